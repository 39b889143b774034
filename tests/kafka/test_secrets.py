"""Secrets in Kafka mode: with a SASL password, a Slack URL and a webhook secret configured, no
output of the Kafka roles (stdout and stderr, debug logs), of `check` or of `dlq list` shows
them.

Two runs against the real test broker. With SASL configured (the PLAINTEXT test broker cannot
speak it) every role fails to connect and ends, and what it printed on the way is searched.
Without SASL the three roles deliver to a Slack-like receiver and a signed webhook (and
dead-letter a third destination that answers 500 with its token in the body), and all of
their output is searched."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.broker import kafka_section
from tests.support.cli import NEWSALERT, WEBHOOK_SECRET
from tests.support.feed_server import FeedServer, Reply
from tests.support.processes import Stage, Supervisor
from tests.support.receivers import Reply as Answer
from tests.support.receivers import SlackReceiver, WebhookReceiver
from tests.support.rig import wait_until

SASL_PASSWORD = "kafkaSaslPassw0rdQ7x"
BROKEN_TOKEN = "brokenKafkaDestinationTokenZ3"
CHINA_RSS = (
    b"<?xml version='1.0'?><rss version='2.0'><channel><title>w</title>"
    b"<link>https://news.example.org/</link><description>d</description>"
    b"<item><guid>k1</guid><title>China lifts its growth target</title>"
    b"<link>https://news.example.org/k1</link><description>Beijing said so.</description>"
    b"</item></channel></rss>"
)


def _secrets(slack: SlackReceiver) -> list[str]:
    key = WEBHOOK_SECRET.removeprefix("whsec_")
    return [SASL_PASSWORD, slack.token, slack.url, WEBHOOK_SECRET, key, BROKEN_TOKEN]


def _config(
    path: Path, kafka: dict[str, Any], feed: str, slack: str, hook: str, broken: str
) -> Path:
    config = {
        "state_dir": str(path.parent / "state"),
        "kafka": kafka,
        "health": {"port": 0},
        "network": {"allow_private": True},
        "logging": {"level": "debug", "format": "json"},
        "polling": {"interval": "1s", "backfill": "all", "timeout": "5s"},
        "delivery": {"max_attempts": 2, "initial_backoff": "100ms", "max_backoff": "300ms"},
        "feeds": [{"name": "wire", "url": feed}],
        "watchlists": [
            {"name": "china", "query": "China", "destinations": ["slack", "hook", "broken"]}
        ],
        "destinations": [
            {"name": "slack", "type": "slack", "url": slack, "min_interval": "0s"},
            {"name": "hook", "type": "webhook", "url": hook, "secret": WEBHOOK_SECRET},
            {
                "name": "broken",
                "type": "webhook",
                "url": f"{broken}?token={BROKEN_TOKEN}",
                "secret": WEBHOOK_SECRET,
            },
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [NEWSALERT, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _assert_clean(outputs: dict[str, str], secrets: list[str]) -> None:
    for name, text in outputs.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:6]}…) appears in {name}"


@pytest.mark.timeout(150)
def test_sasl_roles_that_cannot_connect_never_show_a_secret(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    with FeedServer() as feeds, SlackReceiver() as slack, WebhookReceiver(WEBHOOK_SECRET) as hook:
        kafka = kafka_section(
            kafka_bootstrap,
            topic_prefix,
            broker_timeout="4s",
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_username="newsalert",
            sasl_password=SASL_PASSWORD,
        )
        url = feeds.route("/wire", Reply(body=CHINA_RSS))
        config = _config(tmp_path / "newsalert.yaml", kafka, url, slack.url, hook.url, hook.url)
        outputs: dict[str, str] = {}
        checked = _cli("check", "-c", str(config))
        assert checked.returncode == 0, checked.stderr
        outputs["check"] = checked.stdout + checked.stderr

        procs = {
            role: subprocess.Popen(  # noqa: S603 - our own console script
                [NEWSALERT, role, "-c", str(config)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=dict(os.environ),
            )
            for role in ("poller", "matcher", "notifier", "run")
        }
        codes: dict[str, int | None] = {}
        for role, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                out, err = proc.communicate(timeout=20)
            codes[role] = proc.returncode
            outputs[role] = out + err
        assert slack.received == [] and hook.received == []  # nothing got through

    # Each role failed against the broker and said so (there was output that could leak).
    assert all(code != 0 for code in codes.values()), codes
    assert all(outputs[role].strip() for role in procs), outputs
    _assert_clean(outputs, _secrets(slack))


@pytest.mark.timeout(150)
def test_kafka_roles_delivering_to_slack_and_signed_webhooks_never_show_a_secret(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    with (
        FeedServer() as feeds,
        SlackReceiver() as slack,
        WebhookReceiver(WEBHOOK_SECRET) as hook,
        WebhookReceiver() as broken,
        Supervisor() as supervisor,
    ):
        broken.default_reply = Answer(500, f"<html>error at {BROKEN_TOKEN}</html>")
        url = feeds.route("/wire", Reply(body=CHINA_RSS))
        config = _config(
            tmp_path / "newsalert.yaml",
            kafka_section(kafka_bootstrap, topic_prefix),
            url,
            slack.url,
            hook.url,
            broken.url,
        )
        stages = [Stage(role, config, tmp_path) for role in ("poller", "matcher", "notifier")]
        for stage in stages:
            supervisor.start(stage, restart=False)
        wait_until(lambda: len(slack.received) >= 1 and len(hook.received) >= 1, 60, "delivery")
        wait_until(lambda: len(broken.received) >= 2, 30, "the failing destination's attempts")
        wait_until(
            lambda: "broken" in _cli("dlq", "list", "-c", str(config)).stdout,
            30,
            "the dead letter listed",
            interval=1,
        )
        exits = supervisor.stop_all()

        outputs = {stage.name: stage.log_text() for stage in stages}
        for args in (["dlq", "list"], ["dlq", "list", "--json"], ["check"]):
            done = _cli(*args, "-c", str(config))
            assert done.returncode == 0, done.stderr
            outputs[" ".join(args)] = done.stdout + done.stderr

    assert exits == {"poller": 0, "matcher": 0, "notifier": 0}, supervisor.tails()
    assert slack.received[0].status == 200 and hook.received[0].verified
    assert "broken" in outputs["dlq list --json"]
    assert "alert_dead_lettered" in outputs["notifier"]
    _assert_clean(outputs, _secrets(slack))
