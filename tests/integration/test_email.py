"""The email destination against a real local SMTP server (aiosmtpd): what arrives, how it is
built, what a failing server makes of the alert, and TLS and login with a test-made certificate."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.destinations.email import EmailDestination
from consumers.errors import DeliveryError
from service.models import Digest, DigestWindow, FeedHealthAlert, StoryRef
from service.netguard import IPAddress
from tests.integration.test_destinations import make_alert
from tests.support.smtp_server import SmtpServer, self_signed, server_tls

SENDER = "alerts@news.example"
TO = ["desk@example.org", "oncall@example.net"]
PASSWORD = "pa55-W0rd-n0t-shown"


def destination(port: int, **overrides: object) -> EmailDestination:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "sender": SENDER,
        "recipients": TO,
        "timeout": 5.0,
        "allow_private": True,
    }
    options.update(overrides)
    return EmailDestination("mail", **options)  # type: ignore[arg-type]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


async def test_one_multipart_message_reaches_every_recipient(smtp: SmtpServer) -> None:
    await destination(smtp.port).send(make_alert())

    [got] = smtp.received
    assert got.sender == SENDER
    assert got.recipients == TO
    msg = got.message
    assert msg["Subject"] == "[china, pboc] Beijing weighs yuan move"
    assert msg["From"] == SENDER
    assert msg["To"] == ", ".join(TO)
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    page = msg.get_body(("html",))
    assert text is not None and page is not None
    plain, markup = text.get_content(), page.get_content()
    assert "The PBoC & Chinese banks <quietly> adjust." in plain
    assert "https://example.com/yuan" in plain
    assert "china (Beijing, yuan); pboc (PBoC)" in plain
    # The HTML part escapes the summary; the link is an anchor.
    assert "The PBoC &amp; Chinese banks &lt;quietly&gt; adjust." in markup
    assert "<quietly>" not in markup
    assert '<a href="https://example.com/yuan">Beijing weighs yuan move</a>' in markup


async def test_message_id_is_the_same_on_every_resend_of_an_alert(smtp: SmtpServer) -> None:
    dest = destination(smtp.port)
    await dest.send(make_alert())
    await dest.send(make_alert())
    await dest.send(make_alert(alert_id="alert-0002"))

    ids = [r.message["Message-ID"] for r in smtp.received]
    assert ids[0] == ids[1] == "<alert-0001@news.example>"
    assert ids[2] == "<alert-0002@news.example>"


async def test_a_hostile_id_cannot_break_the_message_id(smtp: SmtpServer) -> None:
    await destination(smtp.port).send(make_alert(alert_id="x>\r\nBcc: evil@example.com <y"))
    [got] = smtp.received
    assert got.message["Message-ID"] == "<x-Bcc-evil-example.com-y@news.example>"
    assert got.message["Bcc"] is None


async def test_a_title_with_crlf_adds_no_header_and_no_recipient(smtp: SmtpServer) -> None:
    title = "Yuan falls\r\nBcc: attacker@example.com\r\n\r\nbody?"
    await destination(smtp.port).send(make_alert(title=title))

    [got] = smtp.received
    assert got.recipients == TO
    msg = got.message
    assert msg["Bcc"] is None
    assert msg["Subject"] == "[china, pboc] Yuan falls Bcc: attacker@example.com body?"
    header_block = got.raw.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc") for line in header_block.split(b"\r\n"))


@pytest.mark.parametrize(
    ("where", "reply", "retriable"),
    [
        ("data", "451 4.3.0 Try again later", True),
        ("data", "452 4.3.1 Insufficient system storage", True),
        ("data", "421 4.7.0 Closing connection", True),
        ("rcpt", "450 4.2.0 Mailbox busy", True),
        ("data", "554 5.7.1 Message rejected as spam", False),
        ("rcpt", "550 5.1.1 No such user", False),
        ("rcpt", "553 5.1.3 Mailbox name not allowed", False),
    ],
)
async def test_smtp_replies_are_retriable_or_permanent(
    smtp: SmtpServer, where: str, reply: str, retriable: bool
) -> None:
    if where == "data":
        smtp.script_data([reply])
    else:
        smtp.script_rcpt([reply, reply])  # both recipients refused
    with pytest.raises(DeliveryError) as caught:
        await destination(smtp.port).send(make_alert())
    assert caught.value.retriable is retriable
    code = reply.split()[0]
    assert f"SMTP {code}" in str(caught.value)
    assert "mail" in str(caught.value)
    assert smtp.received == []
    # Once the server accepts again, the same alert goes through.
    await destination(smtp.port).send(make_alert())
    assert len(smtp.received) == 1


async def test_one_refused_recipient_still_delivers_to_the_others(smtp: SmtpServer) -> None:
    smtp.script_rcpt(["550 5.1.1 No such user"])
    await destination(smtp.port).send(make_alert())
    [got] = smtp.received
    assert got.recipients == TO[1:]


async def test_nothing_listening_is_retriable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the send: connection refused
    with pytest.raises(DeliveryError) as caught:
        await destination(port).send(make_alert())
    assert caught.value.retriable is True
    assert "could not connect" in str(caught.value)


async def test_a_silent_server_times_out_retriably() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts the connection but never greets
        with pytest.raises(DeliveryError) as caught:
            await destination(listener.getsockname()[1], timeout=0.5).send(make_alert())
    assert caught.value.retriable is True
    assert "within 0.5s" in str(caught.value)


async def test_private_smtp_host_is_refused_unless_allowed(smtp: SmtpServer) -> None:
    with pytest.raises(DeliveryError) as caught:
        await destination(smtp.port, allow_private=False).send(make_alert())
    assert caught.value.retriable is False
    assert "non-public address" in str(caught.value)
    assert smtp.received == []


async def test_starttls_and_login_with_a_trusted_test_certificate(
    cert: tuple[Path, Path],
) -> None:
    with SmtpServer(users={"bot": PASSWORD}, starttls=server_tls(*cert)) as smtp:
        dest = destination(
            smtp.port,
            host="localhost",
            tls="starttls",
            username="bot",
            password=PASSWORD,
            ca_bundle=str(cert[0]),
        )
        await dest.send(make_alert())
        [got] = smtp.received
        assert got.tls is True
        assert got.login == "bot"
        assert PASSWORD not in repr(dest)


async def test_a_refused_login_is_permanent_and_never_shows_the_password(
    cert: tuple[Path, Path],
) -> None:
    with SmtpServer(users={"bot": "the-right-one"}, starttls=server_tls(*cert)) as smtp:
        dest = destination(
            smtp.port, tls="starttls", username="bot", password=PASSWORD, ca_bundle=str(cert[0])
        )
        with pytest.raises(DeliveryError) as caught:
            await dest.send(make_alert())
        assert caught.value.retriable is False
        assert "SMTP 535" in str(caught.value)
        assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
        assert smtp.logins and all(login == ("bot", False) for login in smtp.logins)
        assert smtp.received == []


async def test_an_untrusted_certificate_is_refused_permanently(cert: tuple[Path, Path]) -> None:
    with SmtpServer(starttls=server_tls(*cert)) as smtp:
        with pytest.raises(DeliveryError) as caught:
            await destination(smtp.port, tls="starttls").send(make_alert())
        assert caught.value.retriable is False
        assert "certificate did not verify" in str(caught.value)
        assert smtp.received == []


async def test_starttls_asked_for_but_not_offered_is_permanent(smtp: SmtpServer) -> None:
    with pytest.raises(DeliveryError) as caught:
        await destination(smtp.port, tls="starttls").send(make_alert())
    assert caught.value.retriable is False
    assert "STARTTLS" in str(caught.value)
    assert smtp.received == []


async def test_implicit_tls(cert: tuple[Path, Path]) -> None:
    with SmtpServer(implicit_tls=server_tls(*cert)) as smtp:
        await destination(smtp.port, tls="tls", ca_bundle=str(cert[0])).send(make_alert())
        [got] = smtp.received
        assert got.tls is True


async def test_digest_is_one_message_listing_each_story_once_with_its_sources(
    smtp: SmtpServer,
) -> None:
    first = make_alert(alert_id="a1").model_copy(
        update={"story": StoryRef(id="story-1", sources=["reuters"])}
    )
    copy = make_alert(alert_id="a2").model_copy(
        update={
            "story": StoryRef(id="story-1", sources=["reuters", "ap"], first=False),
            "article": first.article.model_copy(
                update={
                    "id": "article-2",
                    "feed": first.article.feed.model_copy(update={"name": "ap"}),
                }
            ),
        }
    )
    other = make_alert(title="ICO market <b>cools</b>", alert_id="a3").model_copy(
        update={
            "article": first.article.model_copy(
                update={
                    "id": "article-3",
                    "title": "ICO market <b>cools</b>",
                    "link": "https://example.com/ico",
                }
            )
        }
    )
    window = DigestWindow(
        start=datetime(2024, 5, 1, 12, 0, tzinfo=UTC), end=datetime(2024, 5, 1, 13, 0, tzinfo=UTC)
    )
    digest = Digest(
        id="digest-mail-1", destination="mail", window=window, alerts=[first, copy, other]
    )

    await destination(smtp.port).send_digest(digest)

    [got] = smtp.received
    msg = got.message
    assert msg["Subject"] == "Digest: 2 stories, 2024-05-01 12:00–13:00 UTC"
    assert msg["Message-ID"] == "<digest-mail-1@news.example>"
    text = msg.get_body(("plain",))
    page = msg.get_body(("html",))
    assert text is not None and page is not None
    plain = text.get_content()
    assert plain.count("Beijing weighs yuan move") == 1
    assert "Beijing weighs yuan move (reuters, ap)" in plain
    assert "ICO market &lt;b&gt;cools&lt;/b&gt;" in page.get_content()


async def test_feed_health_alert_arrives_as_one_sentence(smtp: SmtpServer) -> None:
    alert = FeedHealthAlert(
        id="health-wire-1",
        type="newsalert.feed.failing",
        feed="wire",
        at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        error="HTTP 503",
        http_status=503,
    )
    await destination(smtp.port).send_feed_health(alert)
    [got] = smtp.received
    assert got.message["Subject"].startswith("[feed failing] Feed wire is failing (HTTP 503)")
    assert got.message["Message-ID"] == "<health-wire-1@news.example>"


async def test_the_connection_goes_to_the_address_that_was_checked(smtp: SmtpServer) -> None:
    """`mail.invalid` cannot resolve for real: delivery works only because the socket goes to
    the answer the guard checked, never through a second lookup."""
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[IPAddress]:
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    await destination(smtp.port, host="mail.invalid", resolver=resolve).send(make_alert())
    assert len(smtp.received) == 1
    assert lookups == ["mail.invalid"]


async def test_a_name_with_one_private_answer_is_refused(smtp: SmtpServer) -> None:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("127.0.0.1")]

    dest = destination(smtp.port, host="mail.invalid", resolver=resolve, allow_private=False)
    with pytest.raises(DeliveryError) as caught:
        await dest.send(make_alert())
    assert caught.value.retriable is False
    assert "non-public address" in str(caught.value)
    assert smtp.received == []


async def test_an_unresolvable_host_is_retriable() -> None:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(DeliveryError) as caught:
        await destination(25, host="mail.invalid", resolver=resolve).send(make_alert())
    assert caught.value.retriable is True
    assert "could not be resolved" in str(caught.value)
