"""Destinations against real local receivers: what arrives, what is retried, what stays secret."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from consumers.destinations.console import ConsoleDestination, format_console
from consumers.destinations.slack import SlackDestination
from consumers.destinations.webhook import WebhookDestination
from consumers.errors import DeliveryError
from service.models import Alert, Article, FeedRef, WatchlistMatch
from tests.support.receivers import (
    SLACK_ACTION_PROHIBITED,
    SLACK_CHANNEL_ARCHIVED,
    SLACK_CHANNEL_NOT_FOUND,
    SLACK_INVALID_BLOCKS,
    SLACK_OK,
    SLACK_SERVER_ERROR_HTML,
    Reply,
    SlackReceiver,
    WebhookReceiver,
    slack_rate_limited,
)

SECRET = "whsec_c2VjcmV0LWtleS1mb3ItbmV3c2FsZXJ0LXRlc3Rz"


def make_alert(title: str = "Beijing weighs yuan move", alert_id: str = "alert-0001") -> Alert:
    article = Article(
        id="article-1",
        feed=FeedRef(name="reuters", url="https://example.com/feed"),
        title=title,
        summary="The PBoC & Chinese banks <quietly> adjust.",
        link="https://example.com/yuan",
        published=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        fetched_at=datetime(2024, 5, 1, 12, 31, tzinfo=UTC),
    )
    return Alert(
        id=alert_id,
        destination="markets",
        article=article,
        matches=[
            WatchlistMatch(watchlist="china", terms=["Beijing", "yuan"]),
            WatchlistMatch(watchlist="pboc", terms=["PBoC"]),
        ],
        created_at=datetime(2024, 5, 1, 12, 32, tzinfo=UTC),
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


@pytest.fixture
async def slack() -> AsyncIterator[SlackReceiver]:
    async with SlackReceiver() as receiver:
        yield receiver


def slack_destination(
    url: str, client: httpx.AsyncClient, *, timeout: float = 5.0
) -> SlackDestination:
    return SlackDestination("markets", url, client, timeout=timeout, allow_private=True)


def assert_keeps_secrets(error: DeliveryError, *secrets: str) -> None:
    for text in (str(error), repr(error)):
        for secret in secrets:
            assert secret not in text


# --- Slack ------------------------------------------------------------------------------


async def test_slack_receives_the_rendered_alert(
    slack: SlackReceiver, client: httpx.AsyncClient
) -> None:
    destination = slack_destination(slack.url, client)
    await destination.send(make_alert())

    [request] = slack.received
    assert request.method == "POST"
    assert request.status == 200
    assert request.headers["content-type"] == "application/json"
    payload = request.json()
    assert payload["blocks"][0]["text"]["text"] == "Beijing weighs yuan move"
    assert (
        "The PBoC &amp; Chinese banks &lt;quietly&gt; adjust."
        in payload["blocks"][1]["text"]["text"]
    )
    assert payload["text"] == "Beijing weighs yuan move — https://example.com/yuan"
    assert destination.min_interval == 1.0


async def test_slack_accepts_a_huge_alert_within_block_kit_limits(
    slack: SlackReceiver, client: httpx.AsyncClient
) -> None:
    # The receiver answers invalid_blocks, as Slack does, if a limit is broken.
    await slack_destination(slack.url, client).send(make_alert(title="headline " * 100))
    assert [r.status for r in slack.received] == [200]


@pytest.mark.parametrize(
    ("reply", "retriable", "wait"),
    [
        (slack_rate_limited(3), True, 3.0),
        (SLACK_CHANNEL_ARCHIVED, False, None),
        (SLACK_CHANNEL_NOT_FOUND, False, None),
        (SLACK_ACTION_PROHIBITED, False, None),
        (SLACK_INVALID_BLOCKS, False, None),
        (SLACK_SERVER_ERROR_HTML, True, None),
    ],
    ids=["429", "410", "404", "403", "400-invalid_blocks", "500-html"],
)
async def test_slack_failures_are_classified_without_revealing_the_url(
    slack: SlackReceiver,
    client: httpx.AsyncClient,
    reply: Reply,
    retriable: bool,
    wait: float | None,
) -> None:
    slack.script([reply])
    destination = slack_destination(slack.url, client)

    with pytest.raises(DeliveryError) as caught:
        await destination.send(make_alert())

    assert caught.value.retriable is retriable
    assert caught.value.retry_after == wait
    assert "markets" in str(caught.value)
    assert str(reply.status) in str(caught.value)
    assert "<html" not in str(caught.value).lower()
    assert_keeps_secrets(caught.value, slack.url, slack.token)
    assert slack.token not in repr(destination)
    assert len(slack.received) == 1


async def test_slack_retry_after_a_429_is_delivered(
    slack: SlackReceiver, client: httpx.AsyncClient
) -> None:
    slack.script([slack_rate_limited(1), SLACK_OK])
    destination = slack_destination(slack.url, client)
    with pytest.raises(DeliveryError):
        await destination.send(make_alert())
    await destination.send(make_alert())
    assert [r.status for r in slack.received] == [429, 200]


async def test_slack_timeout_is_retriable(slack: SlackReceiver, client: httpx.AsyncClient) -> None:
    slack.script([Reply(200, "ok", delay=3.0)])
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        await slack_destination(slack.url, client, timeout=0.3).send(make_alert())
    assert time.monotonic() - started < 2.5
    assert caught.value.retriable
    assert_keeps_secrets(caught.value, slack.url, slack.token)


async def test_unreachable_slack_is_retriable(client: httpx.AsyncClient) -> None:
    receiver = SlackReceiver().start()
    url, token = receiver.url, receiver.token
    receiver.stop()  # nothing listens on that port any more

    with pytest.raises(DeliveryError) as caught:
        await slack_destination(url, client).send(make_alert())
    assert caught.value.retriable
    assert_keeps_secrets(caught.value, url, token)


async def test_private_address_is_refused_unless_allowed(
    slack: SlackReceiver, client: httpx.AsyncClient
) -> None:
    destination = SlackDestination("markets", slack.url, client, timeout=5, allow_private=False)
    with pytest.raises(DeliveryError) as caught:
        await destination.send(make_alert())
    assert not caught.value.retriable
    assert_keeps_secrets(caught.value, slack.url, slack.token)
    assert slack.received == []


# --- signed webhooks ----------------------------------------------------------------------


async def test_webhook_arrives_signed_and_verifiable(client: httpx.AsyncClient) -> None:
    alert = make_alert()
    async with WebhookReceiver(secret=SECRET) as hook:
        destination = WebhookDestination(
            "audit", hook.url, SECRET, client, timeout=5, allow_private=True
        )
        await destination.send(alert)

    [request] = hook.received
    assert request.verified is True
    assert request.status == 204
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == alert.id
    assert request.headers["webhook-signature"].startswith("v1,")
    body = request.json()
    assert body["type"] == "newsalert.alert"
    assert Alert.model_validate(body["data"]) == alert


async def test_webhook_timestamp_comes_from_the_clock(client: httpx.AsyncClient) -> None:
    a_minute_ago = time.time() - 60
    async with WebhookReceiver(secret=SECRET) as hook:
        destination = WebhookDestination(
            "audit",
            hook.url,
            SECRET,
            client,
            timeout=5,
            allow_private=True,
            clock=lambda: a_minute_ago,
        )
        await destination.send(make_alert())
    [request] = hook.received
    assert request.headers["webhook-timestamp"] == str(int(a_minute_ago))
    assert request.verified is True


async def test_webhook_retry_keeps_the_id_and_honours_retry_after(
    client: httpx.AsyncClient,
) -> None:
    alert = make_alert()
    async with WebhookReceiver(secret=SECRET) as hook:
        hook.script([Reply(503, "", {"retry-after": "2"})])
        destination = WebhookDestination(
            "audit", hook.url, SECRET, client, timeout=5, allow_private=True
        )
        with pytest.raises(DeliveryError) as caught:
            await destination.send(alert)
        await destination.send(alert)

    assert caught.value.retriable and caught.value.retry_after == 2.0
    assert [r.headers["webhook-id"] for r in hook.received] == [alert.id, alert.id]
    assert all(r.verified for r in hook.received)
    assert hook.ids == [alert.id]


async def test_webhook_without_secret_is_sent_unsigned(client: httpx.AsyncClient) -> None:
    async with WebhookReceiver() as hook:
        destination = WebhookDestination(
            "audit", hook.url, None, client, timeout=5, allow_private=True
        )
        await destination.send(make_alert())
    [request] = hook.received
    assert "webhook-signature" not in request.headers
    assert request.headers["webhook-id"] == "alert-0001"


async def test_webhook_signed_with_the_wrong_secret_is_rejected_permanently(
    client: httpx.AsyncClient,
) -> None:
    wrong = "whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="
    async with WebhookReceiver(secret=SECRET) as hook:
        destination = WebhookDestination(
            "audit", hook.url, wrong, client, timeout=5, allow_private=True
        )
        with pytest.raises(DeliveryError) as caught:
            await destination.send(make_alert())
    assert [(r.status, r.verified) for r in hook.received] == [(401, False)]
    assert not caught.value.retriable
    assert_keeps_secrets(caught.value, hook.url, wrong, wrong.removeprefix("whsec_"))
    assert wrong not in repr(destination) and hook.url not in repr(destination)


@pytest.mark.parametrize(
    ("reply", "retriable", "wait"),
    [
        (Reply(408, ""), True, None),
        (Reply(429, "slow down", {"retry-after": "5"}), True, 5.0),
        (Reply(500, "<html>boom</html>", {"content-type": "text/html"}), True, None),
        (Reply(502, ""), True, None),
        (Reply(400, "bad"), False, None),
        (Reply(404, ""), False, None),
        (Reply(410, "gone"), False, None),
        (Reply(307, "", {"location": "http://example.com/elsewhere"}), False, None),
    ],
    ids=["408", "429", "500", "502", "400", "404", "410", "307-not-followed"],
)
async def test_webhook_failures_are_classified_without_revealing_secrets(
    client: httpx.AsyncClient, reply: Reply, retriable: bool, wait: float | None
) -> None:
    async with WebhookReceiver(secret=SECRET) as hook:
        hook.script([reply])
        destination = WebhookDestination(
            "audit", hook.url, SECRET, client, timeout=5, allow_private=True
        )
        with pytest.raises(DeliveryError) as caught:
            await destination.send(make_alert())
    assert caught.value.retriable is retriable
    assert caught.value.retry_after == wait
    assert len(hook.received) == 1  # redirects are not followed
    assert_keeps_secrets(caught.value, hook.url, SECRET, SECRET.removeprefix("whsec_"))


async def test_webhook_transport_failure_is_retriable(client: httpx.AsyncClient) -> None:
    hook = WebhookReceiver(secret=SECRET).start()
    url = hook.url
    hook.stop()
    destination = WebhookDestination("audit", url, SECRET, client, timeout=5, allow_private=True)
    with pytest.raises(DeliveryError) as caught:
        await destination.send(make_alert())
    assert caught.value.retriable
    assert_keeps_secrets(caught.value, url, SECRET)


def test_bad_webhook_secret_fails_at_construction_without_quoting_it(
    client: httpx.AsyncClient,
) -> None:
    bad = "whsec_%%%definitely-not-base64%%%"
    with pytest.raises(ValueError) as caught:
        WebhookDestination(
            "audit", "http://127.0.0.1:9/x", bad, client, timeout=5, allow_private=True
        )
    assert bad not in str(caught.value)


# --- console ------------------------------------------------------------------------------


def test_console_line_is_readable() -> None:
    assert format_console(make_alert()) == (
        "2024-05-01 12:30 UTC [china, pboc] Beijing weighs yuan move"
        " — https://example.com/yuan (reuters)"
    )


def test_console_line_cannot_carry_terminal_escapes_or_newlines() -> None:
    line = format_console(make_alert(title="Fake\x1b[2J\x1b]0;pwned\x07 title\nsecond\u202eline"))
    assert "\x1b" not in line and "\x07" not in line and "\n" not in line
    assert "\u202e" not in line
    assert "Fake [2J ]0;pwned title second" in line


async def test_console_writes_one_line_per_alert() -> None:
    stream = io.StringIO()
    destination = ConsoleDestination("console", stream)
    await destination.send(make_alert())
    await destination.send(make_alert(title="Second story"))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1].endswith("[china, pboc] Second story — https://example.com/yuan (reuters)")
    assert destination.min_interval == 0.0


async def test_console_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    await ConsoleDestination("console").send(make_alert())
    assert capsys.readouterr().out == format_console(make_alert()) + "\n"
