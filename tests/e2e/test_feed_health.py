"""Feed health alerts through real `newsalert run` processes: a feed that fails three polls in a
row, then comes back. The ops webhook gets one signed `newsalert.feed.failing` (error, HTTP
status, next retry) and, after a kill -9 and restart in between, exactly one
`newsalert.feed.recovered` with the downtime; never one per failed poll, never a repeat."""

from __future__ import annotations

import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.cli import NEWSALERT, WEBHOOK_SECRET, state_count
from tests.support.feed_server import FeedServer, Reply, sequence
from tests.support.receivers import WebhookReceiver
from tests.support.rig import wait_until
from tests.support.sample_feeds import CHINA, rss

pytestmark = pytest.mark.slow

# The health alerts the service has recorded as delivered (a kill before that sends one again).
SENT = "SELECT count(*) FROM health_alerts WHERE status = 'delivered'"


def _config(tmp_path: Path, feed: str, hook: str) -> Path:
    text = textwrap.dedent(
        f"""\
        state_dir: {tmp_path / "state"}
        health: {{port: 0}}
        logging: {{format: json}}
        network: {{allow_private: true}}
        polling: {{interval: 1s, backfill: none, max_backoff: 2s}}
        feeds: [{{name: wire, url: '{feed}'}}]
        watchlists: [{{name: china, query: China, destinations: [console]}}]
        destinations:
          - {{name: console, type: console}}
          - {{name: ops, type: webhook, url: '{hook}', secret: '{WEBHOOK_SECRET}'}}
        feed_health:
          destinations: [ops]
          failing_after: 3
          failing_for: 1h
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


def test_failing_then_recovered_once_across_a_kill(tmp_path: Path) -> None:
    ok = Reply(body=rss([CHINA]))
    down = Reply(status=503, body=b"busy")
    with FeedServer() as server, WebhookReceiver(WEBHOOK_SECRET) as ops:
        # Two failing polls after the kill keep the feed down across the restart.
        url = server.route("/wire", sequence(ok, down, down, down, down, down, ok))
        config = _config(tmp_path, url, ops.url)
        first = _start(config)
        try:
            [failing] = ops.wait(1, within=30)
            wait_until(lambda: state_count(tmp_path / "state", SENT) == 1, 30, "its record")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        second = _start(config)
        try:
            ops.wait(2, within=40)
            time.sleep(2.0)  # room for a repeat, if there were one
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=20)
        bodies = [r.json() for r in ops.received]
        assert all(r.verified for r in ops.received)
        ids = ops.ids

    assert [b["type"] for b in bodies] == ["newsalert.feed.failing", "newsalert.feed.recovered"]
    failing_data = bodies[0]["data"]
    assert failing_data["feed"] == "wire"
    assert failing_data["http_status"] == 503
    assert "503" in failing_data["error"]
    assert failing_data["next_retry_at"] is not None
    assert bodies[1]["data"]["downtime_s"] > 0
    assert len(set(ids)) == 2
    assert failing.headers["webhook-id"] == ids[0]
