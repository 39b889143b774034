"""kill -9 at random moments, 20 times in a row, while new stories keep appearing.

A feed gains a story every quarter second. `newsalert run` (embedded mode) is started and
killed with SIGKILL after a random 0.2-1.6 s, twenty times: at start-up, mid-poll, mid-match,
mid-delivery. A final `run --once` drains what is left. Both receivers answer a little slowly,
so kills often land while a delivery is in flight. Counted per destination by webhook-id /
title: expected, delivered, repeated, lost. Nothing may be lost; a repeat is only possible for
an alert in flight at a kill (sent, not yet recorded) and carries the same id, so receivers can
drop it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.cli import NEWSALERT, WEBHOOK_SECRET, run_cli
from tests.support.feed_server import FeedServer, ReceivedRequest, Reply
from tests.support.receivers import Reply as Answer
from tests.support.receivers import SlackReceiver, WebhookReceiver
from tests.support.sample_feeds import Item, rss

pytestmark = pytest.mark.slow

KILLS = 20
SEED = int(os.environ.get("NEWSALERT_KILL_SEED", "20261128"))


class GrowingFeed:
    """A feed that gains one story every `every` seconds, keeping them all."""

    def __init__(self, every: float) -> None:
        self.items: list[Item] = []
        self._every = every
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._grow, daemon=True)

    def _grow(self) -> None:
        n = 0
        while not self._stop.wait(self._every):
            with self._lock:
                self.items.insert(0, Item(f"k{n}", f"China wire story {n}", hours_ago=0.0))
            n += 1

    def respond(self, _: ReceivedRequest) -> Reply:
        with self._lock:
            body = rss(list(self.items))
        return Reply(body=body, headers={"Content-Type": "application/rss+xml"})

    def __enter__(self) -> GrowingFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _config(tmp_path: Path, feed: str, slack: str, hook: str) -> Path:
    text = textwrap.dedent(
        f"""\
        state_dir: {tmp_path / "state"}
        health: {{port: 0}}
        logging: {{format: json}}
        network: {{allow_private: true}}
        polling: {{interval: 1s, backfill: all}}
        delivery: {{max_attempts: 20, initial_backoff: 100ms, max_backoff: 500ms, timeout: 2s}}
        feeds: [{{name: wire, url: '{feed}'}}]
        watchlists: [{{name: china, query: China, destinations: [slack, hook]}}]
        destinations:
          - {{name: slack, type: slack, url: '{slack}', min_interval: 0s}}
          - {{name: hook, type: webhook, url: '{hook}', secret: '{WEBHOOK_SECRET}'}}
        """
    )
    path = tmp_path / "newsalert.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _tally(titles: list[str], ids: list[str], expected: set[str]) -> dict[str, int]:
    repeats = sum(count - 1 for count in Counter(ids).values())
    return {
        "expected": len(expected),
        "delivered": len(set(titles) & expected),
        "repeated": repeats,
        "lost": len(expected - set(titles)),
    }


def test_twenty_kill_9s_lose_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    slow = Answer(200, "ok", delay=0.05)
    with (
        FeedServer() as server,
        SlackReceiver() as slack,
        WebhookReceiver(WEBHOOK_SECRET) as hook,
        GrowingFeed(every=0.25) as feed,
    ):
        slack.default_reply = slow
        hook.default_reply = Answer(204, "", delay=0.05)
        url = server.route("/wire", feed.respond)
        config = _config(tmp_path, url, slack.url, hook.url)
        kill_points = []
        for _ in range(KILLS):
            proc = subprocess.Popen(  # noqa: S603 - our own console script
                [NEWSALERT, "run", "-c", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            after = rng.uniform(0.2, 1.6)
            time.sleep(after)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            kill_points.append(round(after, 2))
        # Stop the stream, then let one last run deliver everything that is left.
        feed.stop()
        expected = {i.title for i in feed.items}
        result = run_cli("run", "--once", "-c", str(config), timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]

        slack_ok = [r for r in slack.received if r.status == 200]
        hook_ok = [r for r in hook.received if 200 <= r.status < 300]
        by_slack = _tally(
            [r.json()["blocks"][0]["text"]["text"] for r in slack_ok],
            # Slack has no id header: the alert is known by its title (one alert per story).
            [r.json()["blocks"][0]["text"]["text"] for r in slack_ok],
            expected,
        )
        by_hook = _tally(
            [r.json()["data"]["article"]["title"] for r in hook_ok],
            [r.headers["webhook-id"] for r in hook_ok],
            expected,
        )
    figures = {"seed": SEED, "kills": kill_points, "slack": by_slack, "webhook": by_hook}
    if target := os.environ.get("NEWSALERT_FIGURES"):
        Path(target).write_text(repr(figures), encoding="utf-8")
    assert len(expected) > 50, figures  # the stream really ran through the kills
    assert by_slack["lost"] == 0 and by_hook["lost"] == 0, figures
    assert by_slack["delivered"] == by_hook["delivered"] == len(expected), figures
    # At most one alert per destination is in flight when a kill lands.
    assert by_slack["repeated"] <= KILLS and by_hook["repeated"] <= KILLS, figures
