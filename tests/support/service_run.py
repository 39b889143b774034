"""`newsalert run` as a background process for the fault tests, with what they share: a
config of one feed and some destinations, a webhook receiver on a port chosen in advance (so it
can go down and come back), the JSON log read back, and alerts tallied by title."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from tests.support.cli import NEWSALERT, WEBHOOK_SECRET
from tests.support.receivers import WebhookReceiver, _handler_for, _Server
from tests.support.sample_feeds import Item

STORIES = [Item(f"s{i}", f"China story number {i}", hours_ago=i + 1) for i in range(4)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FixedPortWebhook(WebhookReceiver):
    """A webhook receiver on a port chosen in advance, so it can be down, then come back."""

    def __init__(self, port: int, secret: str) -> None:
        super().__init__(secret)
        self.port = port

    def start(self) -> Self:
        server = _Server(("127.0.0.1", self.port), _handler_for(self))
        self._server = server
        self._url = f"http://127.0.0.1:{self.port}{self.path}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self


def fault_config(
    tmp_path: Path,
    feed_url: str,
    destinations: list[str],
    *,
    state_dir: Path | None = None,
    delivery: str = "{max_attempts: 50, initial_backoff: 200ms, max_backoff: 1s, timeout: 2s}",
) -> Path:
    names = [d.split(",")[0].split(":")[1].strip() for d in destinations]
    text = textwrap.dedent(
        f"""\
        state_dir: {state_dir or tmp_path / "state"}
        health: {{port: 0}}
        logging: {{format: json}}
        network: {{allow_private: true}}
        polling: {{interval: 1s, backfill: all, max_backoff: 2s}}
        delivery: {delivery}
        feeds: [{{name: wire, url: '{feed_url}'}}]
        watchlists: [{{name: china, query: China, destinations: [{", ".join(names)}]}}]
        destinations:
        """
    ) + "".join(f"  - {d}\n" for d in destinations)
    path = tmp_path / "newsalert.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def webhook_entry(name: str, url: str) -> str:
    return f"{{name: {name}, type: webhook, url: '{url}', secret: '{WEBHOOK_SECRET}'}}"


def log_events(path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("{")
    ]


def count_events(path: Path, event: str) -> int:
    return sum(1 for e in log_events(path) if e.get("event") == event)


def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {within}s")
        time.sleep(0.1)


class Service:
    """`newsalert run` in the background, stderr in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self._file = log.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - our own console script
            [NEWSALERT, "run", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=self._file,
        )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._file.close()
        return self.proc.returncode


def tally_titles(hook: WebhookReceiver, expected: set[str]) -> dict[str, int]:
    """Alerts counted by title: expected, delivered, repeated (same id again), lost."""
    ok = [r for r in hook.received if 200 <= r.status < 300]
    titles = [r.json()["data"]["article"]["title"] for r in ok]
    ids = [r.headers["webhook-id"] for r in ok]
    return {
        "expected": len(expected),
        "delivered": len(set(titles) & expected),
        "repeated": len(ids) - len(set(ids)),
        "lost": len(expected - set(titles)),
        "unexpected": len(set(titles) - expected),
    }
