"""Live reload while articles stream in: a feed gains a story every 0.1 s while the watchlists
of the running `newsalert run` are swapped twice, once by editing the file and once by an edit
followed at once by SIGHUP. Across both swaps every story is alerted exactly once (none
dropped, none twice), each by one version of the watchlists (never going back to an older
one), and every story that appeared after a swap was confirmed on /readyz follows the new
watchlists."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.support.cli import NEWSALERT, WEBHOOK_SECRET
from tests.support.feed_server import FeedServer, ReceivedRequest, Reply
from tests.support.receivers import WebhookReceiver
from tests.support.sample_feeds import Item, rss

pytestmark = pytest.mark.slow

V1 = "  - {name: china, query: China, destinations: [hook]}\n"
V2 = V1 + "  - {name: extra, query: story, destinations: [hook]}\n"
V3 = V1 + "  - {name: wire, query: wire, destinations: [hook]}\n"
VERSIONS = {("china",): 1, ("china", "extra"): 2, ("china", "wire"): 3}


class StreamingFeed:
    """A feed gaining one story every `every` seconds; remembers when each appeared."""

    def __init__(self, every: float) -> None:
        self.items: list[Item] = []
        self.appeared: dict[str, float] = {}  # title -> time.monotonic() it was first served
        self._every = every
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._grow, daemon=True)

    def _grow(self) -> None:
        n = 0
        while not self._stop.wait(self._every):
            item = Item(f"s{n}", f"China wire story {n}", hours_ago=0.0)
            with self._lock:
                self.items.insert(0, item)
                self.appeared[item.title] = time.monotonic()
            n += 1

    def respond(self, _: ReceivedRequest) -> Reply:
        with self._lock:
            body = rss(list(self.items))
        return Reply(body=body, headers={"Content-Type": "application/rss+xml"})

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _version(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return str(json.load(r)["checks"])
    except (urllib.error.URLError, OSError):
        return ""


def _config(tmp_path: Path, feed: str, hook: str, port: int, watchlists: str) -> str:
    return (
        textwrap.dedent(
            f"""\
            state_dir: {tmp_path / "state"}
            health: {{host: 127.0.0.1, port: {port}}}
            logging: {{format: json}}
            network: {{allow_private: true}}
            polling: {{interval: 1s, backfill: all}}
            delivery: {{max_attempts: 20, initial_backoff: 100ms, max_backoff: 500ms, timeout: 5s}}
            feeds: [{{name: wire, url: '{feed}'}}]
            destinations:
              - {{name: hook, type: webhook, url: '{hook}', secret: '{WEBHOOK_SECRET}'}}
            watchlists:
            """
        )
        + watchlists
    )


def test_reload_while_articles_stream_in_drops_and_repeats_nothing(tmp_path: Path) -> None:
    port = _free_port()
    feed = StreamingFeed(every=0.1)
    with FeedServer() as server, WebhookReceiver(WEBHOOK_SECRET) as hook:
        url = server.route("/wire", feed.respond)
        config = tmp_path / "newsalert.yaml"
        config.write_text(_config(tmp_path, url, hook.url, port, V1), encoding="utf-8")
        proc = subprocess.Popen(  # noqa: S603 - our own console script
            [NEWSALERT, "run", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        confirmed: dict[int, float] = {}
        try:
            deadline = time.monotonic() + 20
            while "version 1" not in _version(port):
                assert time.monotonic() < deadline, "service never became ready"
                time.sleep(0.1)
            feed.start()
            time.sleep(2.5)
            # Swap 1: edit the file (the watcher picks it up).
            config.write_text(_config(tmp_path, url, hook.url, port, V2), encoding="utf-8")
            confirmed[2] = _confirm(port, 2)
            time.sleep(2.5)
            # Swap 2: edit and SIGHUP at once.
            config.write_text(_config(tmp_path, url, hook.url, port, V3), encoding="utf-8")
            proc.send_signal(signal.SIGHUP)
            confirmed[3] = _confirm(port, 3)
            time.sleep(2.5)
            feed.stop()
            expected = set(feed.appeared)
            _wait_for_titles(hook, expected, within=20)
            time.sleep(1.5)  # room for a repeat to show up
        finally:
            feed.stop()
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr[-3000:]

        ok = [r for r in hook.received if 200 <= r.status < 300]
        assert all(r.verified for r in ok)
        ids = Counter(r.headers["webhook-id"] for r in ok)
        alerts = {
            r.json()["data"]["article"]["title"]: tuple(
                sorted(m["watchlist"] for m in r.json()["data"]["matches"])
            )
            for r in ok
        }
    titles = Counter(r.json()["data"]["article"]["title"] for r in ok)
    assert len(expected) >= 60, len(expected)  # the stream really ran across both swaps
    assert set(alerts) == expected, f"lost: {sorted(expected - set(alerts))[:10]}"
    assert max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
    assert max(titles.values()) == 1, [t for t, n in titles.items() if n > 1]

    # Each alert was matched by exactly one version, and versions only move forward in the
    # order the stories appeared.
    by_order = sorted(expected, key=feed.appeared.__getitem__)
    versions = [VERSIONS.get(alerts[t]) for t in by_order]
    assert None not in versions, {t: alerts[t] for t in by_order if alerts[t] not in VERSIONS}
    assert versions == sorted(versions), versions
    assert {1, 2, 3} <= set(versions), Counter(versions)
    # A story that appeared after a swap was confirmed is matched by the new watchlists.
    for version, at in confirmed.items():
        late = [t for t in by_order if feed.appeared[t] > at]
        assert late, version
        assert all(VERSIONS[alerts[t]] >= version for t in late), (version, late[:5])
    assert stderr.count('"watchlists_reloaded"') == 2, stderr[-3000:]


def _confirm(port: int, version: int) -> float:
    """Wait until /readyz reports `version`; return the time it did."""
    deadline = time.monotonic() + 15
    while f"version {version}" not in _version(port):
        assert time.monotonic() < deadline, f"version {version} never confirmed"
        time.sleep(0.05)
    return time.monotonic()


def _wait_for_titles(hook: WebhookReceiver, expected: set[str], within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        got = {r.json()["data"]["article"]["title"] for r in hook.received if 200 <= r.status < 300}
        if expected <= got:
            return
        assert time.monotonic() < deadline, f"missing {len(expected - got)} alerts"
        time.sleep(0.2)
