"""Destinations that go down, rate-limit, fail forever or hang, through the real `newsalert`
command. Every test counts alerts by the webhook-id / title the receivers saw: expected,
delivered, repeated (same id twice) and lost (never delivered)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import WEBHOOK_SECRET, run_cli
from tests.support.feed_server import FeedServer, Reply
from tests.support.receivers import Reply as Answer
from tests.support.receivers import SlackReceiver, WebhookReceiver, slack_rate_limited
from tests.support.sample_feeds import rss
from tests.support.service_run import (
    STORIES,
    FixedPortWebhook,
    Service,
    count_events,
    fault_config,
    free_port,
    tally_titles,
    wait_for,
    webhook_entry,
)


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


# --- destinations --------------------------------------------------------------------------


@pytest.mark.slow
def test_destination_down_then_back_delivers_everything_once(
    tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.route("/wire", Reply(body=rss(STORIES[:3])))
    port = free_port()
    hook = FixedPortWebhook(port, WEBHOOK_SECRET)
    config = fault_config(
        tmp_path, url, [webhook_entry("hook", f"http://127.0.0.1:{port}/hooks/newsalert")]
    )
    service = Service(config, tmp_path / "stderr.log")
    try:
        # Down: connection refused, retried with backoff, several times.
        wait_for(lambda: count_events(service.log, "alert_delivery_failed") >= 4, 15, "retries")
        feeds.route("/wire", Reply(body=rss(STORIES)))  # a new story while it is down
        time.sleep(1.5)
        assert hook.received == []
        with hook:
            hook.wait(4, within=15)
            time.sleep(1.5)  # room for any repeat to show up
        failures = count_events(service.log, "alert_delivery_failed")
    finally:
        assert service.stop() == 0
    tally = tally_titles(hook, {s.title for s in STORIES})
    assert tally == {"expected": 4, "delivered": 4, "repeated": 0, "lost": 0, "unexpected": 0}
    assert all(r.verified for r in hook.received)
    assert failures >= 4
    assert count_events(service.log, "alert_dead_lettered") == 0


def test_429_retry_after_is_honoured_and_the_rate_never_exceeded(
    tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.route("/wire", Reply(body=rss(STORIES)))
    with SlackReceiver() as slack:
        slack.script([Answer(200, "ok"), slack_rate_limited(2)])
        config = fault_config(
            tmp_path,
            url,
            [f"{{name: slack, type: slack, url: '{slack.url}'}}"],
            delivery="{max_attempts: 5, initial_backoff: 200ms, max_backoff: 10s, timeout: 2s}",
        )
        result = run_cli("run", "--once", "-c", str(config))
        assert result.returncode == 0, result.stderr
    got = slack.received
    assert [r.status for r in got] == [200, 429, 200, 200, 200]
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    # Slack's one message a second per webhook is kept throughout...
    assert min(gaps) >= 0.95, gaps
    # ...the 429's Retry-After: 2 is waited out, and not much longer.
    assert 1.95 <= gaps[1] < 3.5, gaps
    delivered = [r.json()["blocks"][0]["text"]["text"] for r in got if r.status == 200]
    assert sorted(delivered) == sorted(s.title for s in STORIES)


def test_retry_after_beyond_the_policy_dead_letters_instead_of_waiting(
    tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.route("/wire", Reply(body=rss(STORIES[:1])))
    with SlackReceiver() as slack:
        slack.script([slack_rate_limited(3600)])
        config = fault_config(tmp_path, url, [f"{{name: slack, type: slack, url: '{slack.url}'}}"])
        started = time.monotonic()
        result = run_cli("run", "--once", "-c", str(config))
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 15
        assert len(slack.received) == 1
    listed = run_cli("dlq", "list", "--json", "-c", str(config))
    [letter] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert "429" in letter["error"]


def test_retry_after_is_honoured_for_the_next_alert_even_when_one_is_dead_lettered(
    tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.route("/wire", Reply(body=rss(STORIES[:2])))
    with SlackReceiver() as slack:
        slack.script([slack_rate_limited(3)])
        config = fault_config(tmp_path, url, [f"{{name: slack, type: slack, url: '{slack.url}'}}"])
        assert run_cli("run", "--once", "-c", str(config)).returncode == 0
    first, second = slack.received
    assert second.at - first.at >= 2.95


def test_500_forever_dead_letters_then_replay_delivers_once(
    tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.route("/wire", Reply(body=rss(STORIES[:3])))
    with WebhookReceiver(WEBHOOK_SECRET) as hook:
        hook.default_reply = Answer(500, "<html>upstream error</html>")
        config = fault_config(
            tmp_path,
            url,
            [webhook_entry("hook", hook.url)],
            delivery="{max_attempts: 3, initial_backoff: 100ms, max_backoff: 300ms, timeout: 2s}",
        )
        assert run_cli("run", "--once", "-c", str(config)).returncode == 0
        assert len(hook.received) == 9  # 3 alerts x max_attempts, then no more
        listed = run_cli("dlq", "list", "--json", "-c", str(config))
        letters = [json.loads(line) for line in listed.stdout.splitlines()]
        assert sorted(x["title"] for x in letters) == sorted(s.title for s in STORIES[:3])
        assert {x["attempts"] for x in letters} == {3}
        assert all("HTTP 500" in x["error"] for x in letters)

        hook.default_reply = Answer(204, "")  # the destination is back
        one = letters[0]["id"]
        assert "1 dead letters" in run_cli("dlq", "replay", one, "-c", str(config)).stdout
        assert run_cli("run", "--once", "-c", str(config)).returncode == 0
        assert [r.headers["webhook-id"] for r in hook.received[9:]] == [one]
        assert "2 dead letters" in run_cli("dlq", "replay", "-c", str(config)).stdout
        assert run_cli("run", "--once", "-c", str(config)).returncode == 0
        assert run_cli("dlq", "list", "--json", "-c", str(config)).stdout == ""
        hook.received[:] = hook.received[9:]
        tally = tally_titles(hook, {s.title for s in STORIES[:3]})
    assert tally == {"expected": 3, "delivered": 3, "repeated": 0, "lost": 0, "unexpected": 0}


def test_hanging_destination_times_out_without_holding_up_the_others(
    tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.route("/wire", Reply(body=rss(STORIES[:2])))
    with WebhookReceiver(WEBHOOK_SECRET) as hung, WebhookReceiver(WEBHOOK_SECRET) as fine:
        hung.default_reply = Answer(204, "", delay=60)  # accepts, never answers in time
        config = fault_config(
            tmp_path,
            url,
            [webhook_entry("hung", hung.url), webhook_entry("fine", fine.url)],
            delivery="{max_attempts: 2, initial_backoff: 100ms, max_backoff: 300ms, timeout: 1s}",
        )
        started = time.monotonic()
        result = run_cli("run", "--once", "-c", str(config))
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert elapsed < 15  # 2 alerts x 2 attempts x 1 s, plus start-up
        # The healthy destination got both at once, not after the hung one's timeouts.
        assert len(fine.received) == 2
        assert fine.received[-1].at - started < 4
        assert len(hung.received) == 4
    listed = run_cli("dlq", "list", "--json", "-c", str(config))
    letters = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(letters) == 2 and all(x["destination"] == "hung" for x in letters)
    assert all("did not answer within 1s" in x["error"] for x in letters)
