"""Polling at scale: N feeds on a local server, the real `newsalert run` polling them.

A feed server in a separate process (so its CPU is not counted) serves N feeds on 127.0.0.1,
each one of the real captures in ../shared/realdata/feeds. Most feeds answer a conditional
request with 304; a quarter ignore validators and send the same body again (200); one in
`--changing` adds a new story every `--change-every` seconds. `newsalert run` (embedded store,
backfill none, a few watchlists, console destination) polls them every `--interval`. After a
warm-up (the first round of polls reads every feed in full) it measures for `--seconds` and
prints one JSON object: polls a second (and the rate the configuration asks for), polls by
outcome, new articles a second, CPU cores used by the service process (its CPU time over wall
time) and its CPU time per poll, its peak resident memory, and the feed server's cores for
reference.

    .venv/bin/python -m bench.poll [--feeds 2000] [--interval 10s] [--seconds 60]
                                   [--warmup SECONDS] [--changing 20] [--change-every 60]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
NEWSALERT = str(Path(sys.executable).with_name("newsalert"))
SKIP = {".md", ".json", ".tsv"}
TICK = os.sysconf("SC_CLK_TCK")
_FIRST_ENTRY = re.compile(rb"<(?:[\w.-]+:)?(item|entry)[\s>]")


# --- the feed server (its own process) ------------------------------------------------------


class FeedSet:
    """What feed `i` answers: its capture, its kind (304, same body, changing) and version."""

    def __init__(self, files: list[Path], changing: int, change_every: float) -> None:
        self.bodies = [p.read_bytes() for p in files]
        self.changing = changing
        self.change_every = change_every
        self.started = time.time()
        self._cache: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()

    def kind(self, feed: int) -> str:
        if self.changing and feed % self.changing == 0:
            return "changing"
        return "same_body" if feed % 4 == 1 else "conditional"

    def version(self, feed: int) -> int:
        if self.kind(feed) != "changing":
            return 0
        phase = (feed * 7919) % 1000 / 1000 * self.change_every  # spread the changes
        return int((time.time() - self.started + phase) / self.change_every)

    def body(self, feed: int, version: int) -> bytes:
        base = self.bodies[feed % len(self.bodies)]
        if version == 0:
            return base
        with self._lock:
            cached = self._cache.get((feed, version))
            if cached is None:
                cached = self._cache[(feed, version)] = _with_stories(base, feed, version)
                self._cache.pop((feed, version - 1), None)
            return cached


def _with_stories(base: bytes, feed: int, version: int) -> bytes:
    """The capture with `version` new stories (newest first) in front of its first entry."""
    first = _FIRST_ENTRY.search(base)
    if first is None:
        return base
    atom = first.group(1) == b"entry"
    now = datetime.now(UTC)
    stories = []
    for v in range(version, max(0, version - 20), -1):
        title = f"Poll bench story {v} of feed {feed}"
        link = f"http://bench.invalid/{feed}/{v}"
        if atom:
            stories.append(
                f"<entry><title>{title}</title><id>bench-{feed}-{v}</id>"
                f'<link href="{link}"/><updated>{now:%Y-%m-%dT%H:%M:%SZ}</updated>'
                f"<summary>A new story for the polling benchmark.</summary></entry>"
            )
        else:
            stories.append(
                f"<item><title>{title}</title><link>{link}</link><guid>bench-{feed}-{v}</guid>"
                f"<pubDate>{now:%a, %d %b %Y %H:%M:%S} +0000</pubDate>"
                f"<description>A new story for the polling benchmark.</description></item>"
            )
    at = first.start()
    return base[:at] + "".join(stories).encode() + base[at:]


def serve(files: list[Path], changing: int, change_every: float) -> None:
    feeds = FeedSet(files, changing, change_every)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers and httpx do
        disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms stalls

        def do_GET(self) -> None:
            try:
                feed = int(self.path.rsplit("/", 1)[1])
            except ValueError:
                self.send_error(404)
                return
            kind = feeds.kind(feed)
            version = feeds.version(feed)
            etag = f'"v{version}"'
            if kind != "same_body" and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = feeds.body(feed, version)
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            if kind != "same_body":
                self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024  # the poller opens tens of connections at once
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


# --- the measurement ----------------------------------------------------------------------


def captures(realdata: Path) -> list[Path]:
    """The real feed captures that are feeds with entries (not UTF-16: stories go in as ASCII)."""
    found = []
    for p in sorted((realdata / "feeds").rglob("*")):
        if not p.is_file() or p.suffix in SKIP or "LICENSE" in p.name or "README" in p.name:
            continue
        body = p.read_bytes()
        if b"\x00" not in body[:200] and _FIRST_ENTRY.search(body):
            found.append(p)
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime, all threads


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def polls_by_status(metrics: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("newsalert_feed_polls_total{"):
            status = line.split('outcome="', 1)[1].split('"', 1)[0]
            out[status] = out.get(status, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def metric_sum(metrics: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(args: argparse.Namespace, work: Path, files: list[Path]) -> dict[str, Any]:
    from service.units import parse_duration

    interval = float(parse_duration(args.interval))
    server = subprocess.Popen(  # noqa: S603 - this script, in server mode
        [sys.executable, "-m", "bench.poll", "--serve", str(args.changing), str(args.change_every)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write("\n".join(str(p) for p in files) + "\n")
    server.stdin.close()
    feed_port = int(server.stdout.readline())
    port = free_port()
    config = {
        "state_dir": str(work / "state"),
        "health": {"host": "127.0.0.1", "port": port},
        "logging": {"level": "warning", "format": "json"},
        "network": {"allow_private": True},
        "polling": {
            "interval": args.interval,
            "backfill": "none",
            # One host serves every feed here: as many at once as the client keeps alive (20),
            # so connections are reused rather than opened per poll.
            "per_host": 16,
            "concurrency": 32,
        },
        "feeds": [
            {"name": f"f{i}", "url": f"http://127.0.0.1:{feed_port}/feed/{i}"}
            for i in range(args.feeds)
        ],
        "watchlists": [
            {"name": "china", "query": "China OR Beijing", "destinations": ["console"]},
            {"name": "fed", "query": "fed NEAR/5 cut*", "destinations": ["console"]},
            {"name": "bench", "query": '"poll bench story"', "destinations": ["console"]},
        ],
        "destinations": [{"name": "console", "type": "console"}],
    }
    path = work / "poll.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    log = (work / "stderr.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own console script
        [NEWSALERT, "run", "-c", str(path)], stdout=subprocess.DEVNULL, stderr=log
    )
    warmup = args.warmup if args.warmup is not None else interval * 1.5 + 5
    try:
        deadline = time.monotonic() + warmup
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"newsalert exited {proc.returncode}; see {log.name}")
            time.sleep(0.5)
        url = f"http://127.0.0.1:{port}/metrics"
        before = httpx.get(url, timeout=30).text
        cpu0, server0, wall0 = cpu_seconds(proc.pid), cpu_seconds(server.pid), time.monotonic()
        rss0 = status_kb(proc.pid, "VmRSS") / 1024
        time.sleep(args.seconds)
        after = httpx.get(url, timeout=30).text
        cpu1, server1, wall1 = cpu_seconds(proc.pid), cpu_seconds(server.pid), time.monotonic()
        peak = status_kb(proc.pid, "VmHWM") / 1024
        rss1 = status_kb(proc.pid, "VmRSS") / 1024
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
        server.terminate()
        server.wait(timeout=10)
    wall = wall1 - wall0
    s0, s1 = polls_by_status(before), polls_by_status(after)
    by_status = {k: round((s1.get(k, 0.0) - s0.get(k, 0.0)) / wall, 1) for k in sorted(s1)}
    published = metric_sum(after, "newsalert_articles_published_total") - metric_sum(
        before, "newsalert_articles_published_total"
    )
    return {
        "feeds": args.feeds,
        "interval": args.interval,
        "captures": len(files),
        "seconds": round(wall, 1),
        "polls_per_s": round(sum(by_status.values()), 1),
        "polls_per_s_asked": round(args.feeds / interval, 1),
        "polls_per_s_by_status": by_status,
        "new_articles_per_s": round(published / wall, 2),
        "cpu_cores": round((cpu1 - cpu0) / wall, 3),
        "cpu_ms_per_poll": round(
            (cpu1 - cpu0) * 1000 / max(1.0, sum(s1.values()) - sum(s0.values())), 2
        ),
        "peak_rss_mb": round(peak, 1),
        "rss_mb_start_end": [round(rss0, 1), round(rss1, 1)],
        "feed_server_cpu_cores": round((server1 - server0) / wall, 3),
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        files = [Path(line) for line in sys.stdin.read().split("\n") if line]
        serve(files, int(sys.argv[2]), float(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--interval", default="10s", help="polling interval of every feed")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to measure")
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds before measuring (1.5 intervals + 5)"
    )
    parser.add_argument(
        "--changing", type=int, default=20, help="one feed in this many changes (0: none)"
    )
    parser.add_argument(
        "--change-every", type=float, default=60.0, help="seconds between a feed's new stories"
    )
    parser.add_argument("--realdata", type=Path, default=ROOT.parent / "shared" / "realdata")
    args = parser.parse_args()
    files = captures(args.realdata)
    if not files:
        print(f"no saved feeds under {args.realdata / 'feeds'}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="newsalert-poll-") as tmp:
        figures = measure(args, Path(tmp), files)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
