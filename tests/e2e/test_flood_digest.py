"""Flood control through real `newsalert run` processes and local receivers.

A feed holds eight China stories and one about a Fed rate cut. Slack and a signed webhook each
allow two single alerts per 3 s. The process is killed with SIGKILL while six alerts per
destination are held, and started again once the flood window has ended: each destination gets
exactly one digest with the six held stories, the priority story arrives on its own, and a
third run sends nothing more.
"""

from __future__ import annotations

import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.cli import NEWSALERT, WEBHOOK_SECRET, run_cli, state_count
from tests.support.feed_server import FeedServer, Reply
from tests.support.receivers import SlackReceiver, WebhookReceiver
from tests.support.rig import wait_until
from tests.support.sample_feeds import Item, rss

pytestmark = pytest.mark.slow

STORIES = [Item(f"c{n}", f"China wire story {n}", hours_ago=1 + n / 10) for n in range(8)]
PRIORITY = Item("fed", "Fed announces surprise rate cut", hours_ago=0.5)
SENT = "SELECT count(*) FROM outbox WHERE status = 'delivered'"
HELD = "SELECT count(*) FROM held_alerts"


def _config(tmp_path: Path, feed: str, slack: str, hook: str) -> Path:
    text = textwrap.dedent(
        f"""\
        state_dir: {tmp_path / "state"}
        health: {{port: 0}}
        logging: {{format: json}}
        network: {{allow_private: true}}
        polling: {{interval: 1s, backfill: all}}
        delivery: {{max_attempts: 5, initial_backoff: 100ms, max_backoff: 500ms, timeout: 2s}}
        feeds: [{{name: wire, url: '{feed}'}}]
        watchlists:
          - {{name: china, query: China, destinations: [slack, hook]}}
          - {{name: fed-cuts, query: '"rate cut"', destinations: [slack, hook], priority: true}}
        destinations:
          - name: slack
            type: slack
            url: '{slack}'
            min_interval: 0s
            flood: {{max: 2, per: 3s}}
          - name: hook
            type: webhook
            url: '{hook}'
            secret: '{WEBHOOK_SECRET}'
            flood: {{max: 2, per: 3s}}
        """
    )
    path = tmp_path / "newsalert.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _start(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own console script
        [NEWSALERT, "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_kill_9_while_held_then_one_digest(tmp_path: Path) -> None:
    with FeedServer() as server, SlackReceiver() as slack, WebhookReceiver(WEBHOOK_SECRET) as hook:
        body = rss([PRIORITY, *STORIES])
        url = server.route("/wire", lambda _: Reply(body=body))
        config = _config(tmp_path, url, slack.url, hook.url)

        first = _start(config)
        # Two singles and the priority alert each; the other six are held.
        slack.wait(3, within=20)
        hook.wait(3, within=20)
        # The three sends of each recorded, and the six others of each held, before the kill.
        wait_until(lambda: state_count(tmp_path / "state", SENT) == 6, 30, "the sends recorded")
        wait_until(lambda: state_count(tmp_path / "state", HELD) == 12, 30, "the alerts held")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        singles = len(slack.received)
        assert singles == 3, [r.json()["text"] for r in slack.received]

        time.sleep(3.5)  # the flood window ends while no process runs
        second = _start(config)
        try:
            slack.wait(4, within=20)
            hook.wait(4, within=20)
            time.sleep(2.0)  # room for a repeat to show up, if there were one
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=20)
        result = run_cli("run", "--once", "-c", str(config), timeout=60)
        assert result.returncode == 0, result.stderr[-2000:]

        slack_bodies = [r.json() for r in slack.received]
        hook_bodies = [r.json() for r in hook.received]
        hook_ids = hook.ids

    slack_digests = [b for b in slack_bodies if b["blocks"][0]["text"]["text"].startswith("Digest")]
    slack_singles = [b["blocks"][0]["text"]["text"] for b in slack_bodies if b not in slack_digests]
    assert len(slack_digests) == 1, slack_bodies
    assert slack_digests[0]["blocks"][0]["text"]["text"].startswith("Digest: 6 alerts")
    assert "Fed announces surprise rate cut" in slack_singles
    assert len(slack_singles) == 3
    linked = "\n".join(
        b["text"]["text"] for b in slack_digests[0]["blocks"] if b["type"] == "section"
    )
    shown = {s.title for s in STORIES if s.title in linked}
    assert len(shown) == 6 and not shown & set(slack_singles)

    digests = [b for b in hook_bodies if b["type"] == "newsalert.digest"]
    alerts = [b for b in hook_bodies if b["type"] == "newsalert.alert"]
    assert len(digests) == 1 and len(alerts) == 3, hook_bodies
    assert len(digests[0]["data"]["alerts"]) == 6
    assert set(digests[0]["data"]) == {"destination", "window", "alerts"}
    assert len(set(hook_ids)) == len(hook_ids) == 4
    titles = {a["article"]["title"] for a in digests[0]["data"]["alerts"]}
    titles |= {a["data"]["article"]["title"] for a in alerts}
    assert titles == {s.title for s in [PRIORITY, *STORIES]}
