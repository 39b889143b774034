"""Secrets never leave the config: a full run with Slack, a signed webhook and failing
destinations, then every output a user or an operator can see is searched for them: stdout,
stderr (debug level), /metrics and /readyz, `dlq list` (text and JSON), `check`, and the bytes of
the SQLite store (its outbox holds alerts, which carry no secret)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import httpx

from tests.support.cli import NEWSALERT, WEBHOOK_SECRET, run_cli
from tests.support.feed_server import FeedServer, Reply
from tests.support.receivers import Reply as Answer
from tests.support.receivers import SlackReceiver, WebhookReceiver
from tests.support.sample_feeds import CHINA, ICO, rss

BROKEN_TOKEN = "brokenDestinationToken9x7"  # in the URL of a destination that fails with 500
GONE_TOKEN = "unreachableDestinationTokenQ4"  # in the URL of one that refuses connections
KAFKA_PASSWORD = "kafkaSaslPassw0rdZ"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _secrets(slack: SlackReceiver) -> list[str]:
    key = WEBHOOK_SECRET.removeprefix("whsec_")
    return [slack.token, WEBHOOK_SECRET, key, BROKEN_TOKEN, GONE_TOKEN, KAFKA_PASSWORD]


def _config(tmp_path: Path, feed: str, slack: str, hook: str, broken: str, port: int) -> Path:
    gone = f"http://127.0.0.1:{_free_port()}/hooks/{GONE_TOKEN}?token={GONE_TOKEN}"
    text = textwrap.dedent(
        f"""\
        state_dir: {tmp_path / "state"}
        health: {{host: 127.0.0.1, port: {port}}}
        logging: {{level: debug, format: json}}
        network: {{allow_private: true}}
        polling: {{interval: 1s, backfill: all}}
        delivery: {{max_attempts: 2, initial_backoff: 100ms, max_backoff: 300ms, timeout: 2s}}
        feeds: [{{name: wire, url: '{feed}'}}]
        watchlists:
          - {{name: china, query: 'China OR Beijing OR ICO', destinations: [slack, hook, broken, gone, console]}}
        destinations:
          - {{name: slack, type: slack, url: '${{SLACK_URL}}', min_interval: 0s}}
          - {{name: hook, type: webhook, url: '{hook}', secret: '${{HOOK_SECRET}}'}}
          - {{name: broken, type: webhook, url: '{broken}?token={BROKEN_TOKEN}', secret: '{WEBHOOK_SECRET}'}}
          - {{name: gone, type: slack, url: '{gone}'}}
          - {{name: console, type: console}}
        """
    )
    path = tmp_path / "newsalert.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_output_of_a_full_run_contains_a_secret(tmp_path: Path) -> None:
    with (
        FeedServer() as feeds,
        SlackReceiver() as slack,
        WebhookReceiver(WEBHOOK_SECRET) as hook,
        WebhookReceiver() as broken,
    ):
        broken.default_reply = Answer(500, f"<html>error at {BROKEN_TOKEN}</html>")
        url = feeds.route("/wire", Reply(body=rss([CHINA, ICO])))
        port = _free_port()
        config = _config(tmp_path, url, slack.url, hook.url, broken.url, port)
        env = {**os.environ, "SLACK_URL": slack.url, "HOOK_SECRET": WEBHOOK_SECRET}
        outputs: dict[str, str] = {}

        proc = subprocess.Popen(  # noqa: S603 - our own console script
            [NEWSALERT, "run", "-c", str(config)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            slack.wait(2, within=15)
            hook.wait(2, within=15)
            broken.wait(4, within=15)  # 2 alerts x 2 attempts, then dead letters
            time.sleep(2.5)  # the unreachable destination fails and dead-letters too
            outputs["/metrics"] = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            outputs["/readyz"] = httpx.get(f"http://127.0.0.1:{port}/readyz").text
        finally:
            proc.send_signal(signal.SIGTERM)
            outputs["stdout"], outputs["stderr"] = proc.communicate(timeout=20)
        assert proc.returncode == 0, outputs["stderr"][-2000:]

        json_letters = ""
        for args in (["dlq", "list"], ["dlq", "list", "--json"], ["check"]):
            done = run_cli(*args, "-c", str(config), env=env)
            assert done.returncode == 0, done.stderr
            outputs[" ".join(args)] = done.stdout + done.stderr
            if args[-1] == "--json":
                json_letters = done.stdout  # logs (debug level here) go to stderr
        store = tmp_path / "state"
        outputs["sqlite store"] = "".join(
            p.read_bytes().decode("latin-1") for p in sorted(store.glob("newsalert.db*"))
        )

    # The run did what it should, so there was something to leak.
    assert CHINA.title in outputs["stdout"]
    letters = [json.loads(line) for line in json_letters.splitlines()]
    assert {x["destination"] for x in letters} == {"broken", "gone"}
    assert "alert_dead_lettered" in outputs["stderr"]
    assert 'destination="slack"' in outputs["/metrics"]
    assert all(r.verified for r in hook.received)

    for name, text in outputs.items():
        for secret in _secrets(slack):
            assert secret not in text, f"a secret appears in {name}"


def test_check_and_config_errors_never_show_kafka_or_destination_secrets(tmp_path: Path) -> None:
    base = textwrap.dedent(
        f"""\
        state_dir: {tmp_path / "state"}
        kafka:
          bootstrap_servers: 127.0.0.1:9
          security_protocol: SASL_PLAINTEXT
          sasl_mechanism: PLAIN
          sasl_username: newsalert
          sasl_password: {KAFKA_PASSWORD}
        feeds: [{{name: wire, url: 'http://127.0.0.1:9/feed'}}]
        watchlists: [{{name: china, query: China, destinations: [slack]}}]
        destinations:
          - {{name: slack, type: slack, url: 'https://hooks.slack.com/services/T0/B0/{GONE_TOKEN}'}}
        """
    )
    path = tmp_path / "newsalert.yaml"
    path.write_text(base, encoding="utf-8")
    ok = run_cli("check", "-c", str(path))
    assert ok.returncode == 0, ok.stderr
    # Break it twice: a secret-bearing value with the wrong shape, and an unknown key.
    path.write_text(
        base.replace("url: 'https://hooks", "url: 'ftp://hooks").replace(
            "sasl_username", "sasl_usrname"
        ),
        encoding="utf-8",
    )
    bad = run_cli("check", "-c", str(path))
    assert bad.returncode == 2
    assert "destinations[0]" in bad.stderr and "sasl_usrname" in bad.stderr
    for text in (ok.stdout + ok.stderr, bad.stdout + bad.stderr):
        assert KAFKA_PASSWORD not in text
        assert GONE_TOKEN not in text
