"""Editing the watchlists of a running service swaps them live; a bad edit keeps the old ones."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.support.cli import NEWSALERT, WEBHOOK_SECRET
from tests.support.feed_server import FeedServer, Reply
from tests.support.receivers import WebhookReceiver
from tests.support.sample_feeds import CHINA, Item, rss

ENV = {"HOOK_SECRET": WEBHOOK_SECRET}
RATES = Item("r1", "Fed signals rate cuts ahead", "Powell said cuts are coming.", hours_ago=0.2)
GOLD = Item("g1", "Gold rallies as the Fed cuts rates", "Bullion jumped.", hours_ago=0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def readyz(port: int) -> dict[str, object]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return dict(json.load(r))
    except urllib.error.HTTPError as exc:
        return dict(json.load(exc))


def wait_until(check: Callable[[], bool], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def titles(hook: WebhookReceiver) -> list[str]:
    return [r.json()["data"]["article"]["title"] for r in hook.received if r.status < 300]


def test_watchlist_edit_applies_without_restart(write_config: Callable[..., Path]) -> None:
    port = free_port()
    with FeedServer() as feeds, WebhookReceiver(WEBHOOK_SECRET) as hook:
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA])))
        config = write_config(url, webhook_url=hook.url)
        text = config.read_text(encoding="utf-8").replace("port: 0", f"port: {port}")
        config.write_text(text, encoding="utf-8")
        proc = subprocess.Popen(  # noqa: S603 - our own console script
            [NEWSALERT, "run", "-c", str(config)],
            env={**os.environ, **ENV},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            hook.wait(1, within=20)
            # Add a watchlist for Fed cuts, then publish a story only it matches.
            added = text.replace(
                "delivery:",
                "  - name: fed\n    query: 'Fed AND cut*'\n    destinations: [audit]\ndelivery:",
            )
            config.write_text(added, encoding="utf-8")
            wait_until(lambda: "version 2" in str(readyz(port)["checks"]))
            feeds.route("/wire.xml", Reply(body=rss([RATES, CHINA])))
            wait_until(lambda: RATES.title in titles(hook))
            fed = next(
                r.json()
                for r in hook.received
                if r.json()["data"]["article"]["title"] == RATES.title
            )
            assert [m["watchlist"] for m in fed["data"]["matches"]] == ["fed"]

            # A broken edit: the running rules stay, /readyz says why, alerts keep flowing.
            config.write_text(added.replace("'Fed AND cut*'", "'Fed AND (cut*'"), encoding="utf-8")
            wait_until(lambda: "refused" in str(readyz(port)["checks"]))
            status = readyz(port)
            assert status["ready"] is True
            assert "fed" in str(status["checks"]) and "column" in str(status["checks"])
            feeds.route("/wire.xml", Reply(body=rss([GOLD, RATES, CHINA])))
            wait_until(lambda: GOLD.title in titles(hook))
            assert titles(hook).count(RATES.title) == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr[-2000:]
        assert "watchlists_reloaded" in stderr
        assert stderr.count("watchlists_reload_failed") == 1
