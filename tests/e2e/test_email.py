"""The email destination through the real command: `newsalert run --once` delivering to a local
SMTP server (aiosmtpd), a refused login ending as a dead letter without the password showing
anywhere, and `newsalert check` naming a missing or wrong key in one line."""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.cli import NEWSALERT, run_cli
from tests.support.feed_server import FeedServer, Reply
from tests.support.sample_feeds import BOTH, CHINA, ICO, OTHER, Item, rss
from tests.support.smtp_server import SmtpServer, self_signed, server_tls

PASSWORD = "smtpPassw0rd-e2e-Zq9"


def _config(tmp_path: Path, feed: str, email: str, *, extra: str = "") -> Path:
    text = textwrap.dedent(
        f"""\
        state_dir: {tmp_path / "state"}
        health: {{port: 0}}
        logging: {{level: debug, format: json}}
        network: {{allow_private: true{extra}}}
        polling: {{interval: 1s, backfill: all}}
        delivery: {{max_attempts: 2, initial_backoff: 100ms, max_backoff: 300ms, timeout: 5s}}
        feeds: [{{name: wire, url: '{feed}'}}]
        watchlists:
          - {{name: china, query: 'China OR Chinese OR Beijing OR PBoC', destinations: [mail]}}
          - {{name: ico, query: '`ICO` OR "token sale"', destinations: [mail]}}
        destinations:
          - name: mail
            type: email
            min_interval: 0s
        """
    ) + textwrap.indent(textwrap.dedent(email), "    ")
    path = tmp_path / "newsalert.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_run_once_emails_each_alert_once(tmp_path: Path) -> None:
    with FeedServer() as feeds, SmtpServer() as smtp:
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA, ICO, BOTH, OTHER])))
        email = f"""\
            host: 127.0.0.1
            port: {smtp.port}
            tls: none
            from: newsalert@alerts.example
            to: [desk@example.org, "oncall@example.net"]
            """
        config = _config(tmp_path, url, email)

        result = run_cli("run", "--once", "-c", str(config))
        assert result.returncode == 0, result.stderr

        messages = [r.message for r in smtp.received]
        subjects = sorted(m["Subject"] for m in messages)
        assert subjects == sorted(
            [f"[china] {CHINA.title}", f"[ico] {ICO.title}", f"[china, ico] {BOTH.title}"]
        )
        assert all(
            r.recipients == ["desk@example.org", "oncall@example.net"] for r in smtp.received
        )
        assert all(m.get_content_type() == "multipart/alternative" for m in messages)
        ids = [m["Message-ID"] for m in messages]
        assert len(set(ids)) == 3 and all(i.endswith("@alerts.example>") for i in ids)

        # A second run has nothing new: nothing is mailed again.
        assert run_cli("run", "--once", "-c", str(config)).returncode == 0
        assert len(smtp.received) == 3


def test_refused_login_is_a_dead_letter_and_the_password_never_shows(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with (
        FeedServer() as feeds,
        SmtpServer(users={"bot": "another-password"}, starttls=server_tls(cert, key)) as smtp,
    ):
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA])))
        email = f"""\
            host: localhost
            port: {smtp.port}
            tls: starttls
            username: bot
            password: ${{SMTP_PASSWORD}}
            from: newsalert@alerts.example
            to: [desk@example.org]
            """
        config = _config(tmp_path, url, email, extra=f", ca_bundle: '{cert}'")
        env = {"SMTP_PASSWORD": PASSWORD}

        run = run_cli("run", "--once", "-c", str(config), env=env)
        assert run.returncode == 0, run.stderr
        assert smtp.received == []
        assert smtp.logins and all(login == ("bot", False) for login in smtp.logins)

        listed = run_cli("dlq", "list", "--json", "-c", str(config), env=env)
        [letter] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert letter["destination"] == "mail"
        assert letter["attempts"] == 1  # 535 is permanent: not retried
        assert "SMTP 535" in letter["error"]
        text = run_cli("dlq", "list", "-c", str(config), env=env)
        check = run_cli("check", "-c", str(config), env=env)
        assert check.returncode == 0, check.stderr
        store = "".join(
            p.read_bytes().decode("latin-1") for p in (tmp_path / "state").glob("newsalert.db*")
        )
        for shown in (run.stdout, run.stderr, listed.stdout, listed.stderr, text.stdout,
                      text.stderr, check.stdout, check.stderr, store):  # fmt: skip
            assert PASSWORD not in shown


GOOD_EMAIL = """\
    host: smtp.example.org
    port: 587
    tls: starttls
    username: bot
    password: ${SMTP_PASSWORD}
    from: newsalert@example.org
    to: [desk@example.org]
"""


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        (
            "    to: [desk@example.org]\n",
            "",
            "an email destination needs to: a list of email addresses",
        ),
        ("    port: 587\n", "", "an email destination needs a port"),
        ("tls: starttls", "tls: ssl", "'starttls', 'tls' or 'none'"),
        ("    username: bot\n", "", "takes username and password together"),
        ("[desk@example.org]", "[desk@example.org, desk]", "to[1] is not an email address"),
        (
            "from: newsalert@example.org",
            "from: News <n@example.org>",
            "needs from: one email address",
        ),
        ("host: smtp.example.org", "host: smtp://smtp.example.org", "not a URL"),
        ("tls: starttls", "tls: none", "needs tls: starttls or tls"),
        (
            "port: 587",
            "port: 587\n    url: https://example.org/",
            "an email destination takes no url",
        ),
    ],
)
def test_check_names_the_missing_or_wrong_key_in_one_line(
    tmp_path: Path, old: str, new: str, says: str
) -> None:
    assert old in GOOD_EMAIL
    env = {"SMTP_PASSWORD": PASSWORD}
    good = _config(tmp_path, "https://example.org/feed.xml", GOOD_EMAIL)
    assert run_cli("check", "-c", str(good), env=env).returncode == 0  # each case breaks one key
    config = _config(tmp_path, "https://example.org/feed.xml", GOOD_EMAIL.replace(old, new))

    result = run_cli("check", "-c", str(config), env=env)

    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"{config}:") and "destinations[0]" in line
    assert says in line, line
    assert PASSWORD not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_flood_goes_out_as_one_digest_email(tmp_path: Path) -> None:
    """One single alert per window; the rest of the window arrives as one digest message."""
    stories = [Item(f"c{n}", f"China wire story {n}", hours_ago=1 + n / 10) for n in range(4)]
    with FeedServer() as feeds, SmtpServer() as smtp:
        url = feeds.route("/wire.xml", Reply(body=rss(stories)))
        email = f"""\
            host: 127.0.0.1
            port: {smtp.port}
            tls: none
            from: newsalert@alerts.example
            to: [desk@example.org]
            flood: {{max: 1, per: 2s}}
            """
        config = _config(tmp_path, url, email)
        proc = subprocess.Popen(  # noqa: S603 - our own console script
            [NEWSALERT, "run", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            got = smtp.wait(2, within=30)
            time.sleep(1.0)  # nothing more is on its way
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        assert proc.returncode == 0
        assert len(smtp.received) == 2
        single, digest = (r.message for r in got)
        assert single["Subject"].startswith("[china] China wire story")
        assert digest["Subject"].startswith("Digest: 3 stories, ")
        body = digest.get_body(("plain",))
        assert body is not None
        listed = [line for line in body.get_content().splitlines() if line.startswith("- ")]
        assert len(listed) == 3 and all("(wire)" in line for line in listed)
        assert digest["Message-ID"] != single["Message-ID"]
