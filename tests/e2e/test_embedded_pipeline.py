"""The whole embedded pipeline as a user runs it: the real `newsalert` command, a local feed
server, a Slack-like receiver and a signature-checking webhook receiver, a real SQLite file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.cli import NEWSALERT, WEBHOOK_SECRET, run_cli
from tests.support.feed_server import FeedServer, Reply
from tests.support.receivers import Reply as ReceiverReply
from tests.support.receivers import SlackReceiver, WebhookReceiver
from tests.support.sample_feeds import BOTH, CHINA, ICO, OTHER, Item, rss

ENV = {"HOOK_SECRET": WEBHOOK_SECRET}


def slack_titles(slack: SlackReceiver) -> list[str]:
    return [r.json()["blocks"][0]["text"]["text"] for r in slack.received if r.status == 200]


def webhook_titles(hook: WebhookReceiver) -> list[str]:
    return [r.json()["data"]["article"]["title"] for r in hook.received if r.status < 300]


def test_run_once_delivers_one_alert_per_story_and_destination(
    write_config: Callable[..., Path],
) -> None:
    with FeedServer() as feeds, SlackReceiver() as slack, WebhookReceiver(WEBHOOK_SECRET) as hook:
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA, ICO, BOTH, OTHER])))
        config = write_config(url, slack_url=slack.url, webhook_url=hook.url)

        result = run_cli("run", "--once", "-c", str(config), env=ENV)

        assert result.returncode == 0, result.stderr
        expected = sorted([CHINA.title, ICO.title, BOTH.title])
        assert sorted(slack_titles(slack)) == expected
        assert sorted(webhook_titles(hook)) == expected
        assert all(r.verified for r in hook.received)
        # A story matching two watchlists is one message listing both.
        both = next(
            r.json() for r in hook.received if r.json()["data"]["article"]["title"] == BOTH.title
        )
        assert [m["watchlist"] for m in both["data"]["matches"]] == ["china", "ico"]
        assert both["type"] == "newsalert.alert"
        # The console destination prints one readable line per alert on stdout.
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        assert len(lines) == 3
        assert any(BOTH.title in line and "china" in line and "ico" in line for line in lines)
        # Tracking parameters were removed from links.
        assert "utm_source" not in both["data"]["article"]["link"]


def test_restart_sends_only_new_stories(write_config: Callable[..., Path]) -> None:
    with FeedServer() as feeds, WebhookReceiver(WEBHOOK_SECRET) as hook:
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA, OTHER])))
        config = write_config(url, webhook_url=hook.url)
        assert run_cli("run", "--once", "-c", str(config), env=ENV).returncode == 0
        assert webhook_titles(hook) == [CHINA.title]

        later = Item("c2", "Yuan slides as China exports fall", hours_ago=0.1)
        feeds.route("/wire.xml", Reply(body=rss([later, CHINA, OTHER])))
        assert run_cli("run", "--once", "-c", str(config), env=ENV).returncode == 0
        assert run_cli("run", "--once", "-c", str(config), env=ENV).returncode == 0

        assert webhook_titles(hook) == [CHINA.title, later.title]
        assert len(set(hook.ids)) == len(hook.ids) == 2


def test_backfill_none_alerts_only_on_items_after_the_first_poll(
    write_config: Callable[..., Path],
) -> None:
    with FeedServer() as feeds, WebhookReceiver(WEBHOOK_SECRET) as hook:
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA, ICO])))
        config = write_config(url, webhook_url=hook.url, backfill="none")
        assert run_cli("run", "--once", "-c", str(config), env=ENV).returncode == 0
        assert hook.received == []
        feeds.route("/wire.xml", Reply(body=rss([BOTH, CHINA, ICO])))
        assert run_cli("run", "--once", "-c", str(config), env=ENV).returncode == 0
        assert webhook_titles(hook) == [BOTH.title]


def test_dead_destination_dead_letters_and_replay_delivers(
    write_config: Callable[..., Path],
) -> None:
    with FeedServer() as feeds, SlackReceiver() as slack, WebhookReceiver(WEBHOOK_SECRET) as hook:
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA])))
        config = write_config(url, slack_url=slack.url, webhook_url=hook.url, max_attempts=2)
        slack.script([ReceiverReply(500, "<html>oops</html>")] * 2)

        result = run_cli("run", "--once", "-c", str(config), env=ENV)
        assert result.returncode == 0, result.stderr
        # The broken destination did not hold up the other one.
        assert webhook_titles(hook) == [CHINA.title]
        assert slack_titles(slack) == []
        assert len(slack.received) == 2

        listed = run_cli("dlq", "list", "--json", "-c", str(config), env=ENV)
        assert listed.returncode == 0, listed.stderr
        [letter] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert letter["destination"] == "markets"
        assert letter["title"] == CHINA.title
        assert letter["attempts"] == 2
        assert slack.token not in listed.stdout + listed.stderr

        replay = run_cli("dlq", "replay", "-c", str(config), env=ENV)
        assert replay.returncode == 0 and "1 dead letters queued" in replay.stdout
        assert run_cli("run", "--once", "-c", str(config), env=ENV).returncode == 0
        assert slack_titles(slack) == [CHINA.title]
        assert webhook_titles(hook) == [CHINA.title]  # not sent again
        assert run_cli("dlq", "list", "--json", "-c", str(config), env=ENV).stdout == ""


def test_permanent_slack_error_is_not_retried(write_config: Callable[..., Path]) -> None:
    with FeedServer() as feeds, SlackReceiver() as slack:
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA])))
        config = write_config(url, slack_url=slack.url, max_attempts=5)
        slack.script([ReceiverReply(410, "channel_is_archived")])
        result = run_cli("run", "--once", "-c", str(config), env=ENV)
        assert result.returncode == 0
        assert len(slack.received) == 1
        assert "channel_is_archived" in result.stderr
        assert slack.token not in result.stderr + result.stdout


def test_kill_between_delivery_and_bookkeeping_loses_nothing(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """kill -9 while the receiver holds the first alert; the restart sends it again with the
    same webhook-id (so the receiver can drop it) and delivers everything else once."""
    with FeedServer() as feeds, WebhookReceiver(WEBHOOK_SECRET) as hook:
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA, ICO, BOTH])))
        config = write_config(url, webhook_url=hook.url)
        hook.script([ReceiverReply(204, "", delay=30)])  # the first answer never comes in time
        proc = subprocess.Popen(  # noqa: S603 - our own console script
            [NEWSALERT, "run", "-c", str(config)],
            env={**os.environ, **ENV},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            hook.wait(1, within=30)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        first_id = hook.received[0].headers["webhook-id"]

        started = time.monotonic()
        result = run_cli("run", "--once", "-c", str(config), env=ENV)
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 30

        delivered = [r for r in hook.received if r.status < 300]
        ids = [r.headers["webhook-id"] for r in delivered]
        titles = {r.json()["data"]["article"]["title"] for r in delivered}
        assert titles == {CHINA.title, ICO.title, BOTH.title}  # nothing lost
        assert len(set(ids)) == 3
        assert ids.count(first_id) == 2  # the one in flight was sent again, same id
        assert len(ids) == 4  # and nothing else was repeated


def test_feeds_command_shows_a_failing_feed_and_its_retry(
    write_config: Callable[..., Path],
) -> None:
    with FeedServer() as feeds:
        url = feeds.route("/wire.xml", Reply(status=503, headers={"Retry-After": "120"}))
        config = write_config(url)
        assert run_cli("feeds", "-c", str(config)).returncode == 1  # no store yet: one sentence
        result = run_cli("run", "--once", "-c", str(config), env=ENV)
        assert result.returncode == 0, result.stderr
        assert "feed_failed" in result.stderr and "503" in result.stderr

        shown = run_cli("feeds", "--json", "-c", str(config))
        assert shown.returncode == 0, shown.stderr
        [state] = [json.loads(line) for line in shown.stdout.splitlines()]
        assert state["feed"] == "wire"
        assert state["consecutive_failures"] == 1
        assert "503" in state["last_error"]
        assert state["last_success"] is None
        assert state["next_poll"] is not None
