"""Soak: 1,000 feeds updating continuously, 1,000 watchlists, two destinations, N minutes.

A local feed server holds 1,000 feeds (conditional GET: unchanged feeds answer 304) and adds
new stories to random feeds at `--rate` per second; `newsalert run` polls them every
`--interval` and alerts two local webhook receivers (one signed). Every `--sample` seconds the
service's resident memory is read from /proc. At the end it prints one JSON object:
articles/s (items read, and new articles), alerts/s delivered, end-to-end latency (story
served -> receiver accepted) median and p99, lost and repeated alerts, peak RSS, and RSS over
time with the growth after warm-up and over the last half of the run (MB per minute, a
least-squares slope): memory that levels off shows a last-half slope near zero.

Every feed starts full (KEEP old stories, taken as seen by the first poll, as a real feed's
are), so each new story pushes one out and seen items turn over from the start. The service
runs with `polling.seen_retention` of `--seen-retention` (10 minutes; the default is 90 days),
so that the items pushed out are forgotten within the run and seen items reach their bound:
with the default they would go on filling for weeks (README, "What a long-running process
keeps"). In Kafka mode `kafka.remembered_outcomes` is `--remembered-outcomes` (10,000; the
default 100,000 takes the soak's 7 alerts a second about four hours to fill). After the last
story the soak waits `--drain` seconds at most for the alerts still due: an alert that
arrives then counts as late, one that never does as lost.

    .venv/bin/python -m bench.soak [--minutes 10] [--feeds 1000] [--watchlists 1000]
                                   [--rate 5] [--interval 10s] [--seen-retention 10m]
                                   [--drain 180] [--kafka [--remembered-outcomes 10000]]

`--kafka` runs the same soak in Kafka mode (one `newsalert run` process over a local broker
that scripts/kafka fetches and starts; needs Java 17 and Maven).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.broker import BrokerUnavailableError, kafka_section, start_broker
from tests.support.cli import NEWSALERT
from tests.support.cli import WEBHOOK_SECRET as SECRET
from tests.support.feed_server import FeedServer, Reply
from tests.support.receivers import WebhookReceiver
from tests.support.sample_feeds import Item, rss

KEEP = 20  # stories per feed document
WATCHED = "term"  # watchlist i watches the word term<i>; stories also use unwatched words
# Words of no watchlist, four in each title: a fixed vocabulary, so the matcher's word memos
# fill within minutes (news brings new words every day; they fill the memos up to
# `consumers.matching.document.MEMO_LIMIT`, which bench/soak_memos.py sizes).
OTHER, OTHER_WORDS = "word", 2000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


class Feeds:
    """`count` feeds whose documents change when a story is added; ETag = version."""

    def __init__(self, count: int, watchlists: int, seed: int) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.count = count
        self.words = watchlists * 2  # half the vocabulary is watched
        # (guid, title, monotonic time first served)
        self.stories: list[tuple[str, str, float]] = []
        # Old stories with no watched word fill each feed before the service starts.
        self._docs: dict[int, tuple[int, list[Any]]] = {
            i: (0, [Item(f"old{i}-{k}", f"earlier story {k} of feed {i}") for k in range(KEEP)])
            for i in range(count)
        }
        self._bodies = {i: rss(items, title=f"feed {i}") for i, (_, items) in self._docs.items()}

    def add(self) -> None:
        with self._lock:
            n = len(self.stories)
            feed = self._rng.randrange(self.count)
            a, b = self._rng.randrange(self.words), self._rng.randrange(self.words)
            other = " ".join(f"{OTHER}{self._rng.randrange(OTHER_WORDS)}" for _ in range(4))
            title = f"{WATCHED}{a} and {WATCHED}{b} {other}"
            version, items = self._docs[feed]
            items = [Item(f"s{n}", title, hours_ago=0.0), *items][:KEEP]
            self._docs[feed] = (version + 1, items)
            self._bodies[feed] = rss(items, title=f"feed {feed}")
            self.stories.append((f"s{n}", title, time.monotonic()))

    def respond(self, request: Any) -> Any:
        feed = int(request.path.split("?")[0].rsplit("/", 1)[1])
        with self._lock:
            version, _ = self._docs[feed]
            body = self._bodies[feed]
        etag = f'"v{version}"'
        if request.headers.get("if-none-match") == etag:
            return Reply(status=304, headers={"ETag": etag})
        return Reply(body=body, headers={"ETag": etag, "Content-Type": "application/rss+xml"})

    def watched(self, title: str) -> bool:
        words = [int(w[len(WATCHED) :]) for w in title.split() if w.startswith(WATCHED)]
        return any(w < self.words // 2 for w in words)


def rss_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def soak(args: argparse.Namespace, work: Path, kafka: dict[str, Any] | None) -> dict[str, Any]:
    feeds = Feeds(args.feeds, args.watchlists, args.seed)
    port = free_port()
    with (
        FeedServer() as server,
        WebhookReceiver(SECRET) as signed,
        WebhookReceiver() as plain,
    ):
        for i in range(args.feeds):
            server.route(f"/feed/{i}", feeds.respond)
        config: dict[str, Any] = {
            "state_dir": str(work / "state"),
            "health": {"host": "127.0.0.1", "port": port},
            "logging": {"level": "warning", "format": "json"},
            "network": {"allow_private": True},
            "polling": {
                "interval": args.interval,
                "backfill": "none",
                "per_host": 16,
                "concurrency": 32,
                "seen_retention": args.seen_retention,
            },
            # The generated stories differ only by a few words of a small vocabulary, which
            # story grouping rightly takes for copies of one event; the soak counts every
            # alert, so grouping is off (tests/e2e/test_stories.py covers it).
            "stories": {"window": 0},
            "feeds": [
                {"name": f"f{i}", "url": server.url(f"/feed/{i}")} for i in range(args.feeds)
            ],
            "watchlists": [
                {"name": f"w{i}", "query": f"{WATCHED}{i}", "destinations": ["signed", "plain"]}
                for i in range(args.watchlists)
            ],
            "destinations": [
                {"name": "signed", "type": "webhook", "url": signed.url, "secret": SECRET},
                {"name": "plain", "type": "webhook", "url": plain.url},
            ],
        }
        if kafka is not None:
            config["kafka"] = {**kafka, "remembered_outcomes": args.remembered_outcomes}
        path = work / "newsalert.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        log = (work / "stderr.log").open("wb")
        proc = subprocess.Popen(  # noqa: S603 - our own console script
            [NEWSALERT, "run", "-c", str(path)], stdout=subprocess.DEVNULL, stderr=log
        )
        started = time.monotonic()
        samples: list[tuple[float, float]] = []
        duration = args.minutes * 60
        next_story = started
        next_sample = started
        try:
            while (now := time.monotonic()) - started < duration:
                if proc.poll() is not None:
                    tail = Path(log.name).read_text(errors="replace")[-3000:]
                    raise SystemExit(f"newsalert exited {proc.returncode}; its log ends:\n{tail}")
                while next_story <= now:
                    feeds.add()
                    next_story += 1.0 / args.rate
                if next_sample <= now:
                    samples.append((round(now - started, 1), rss_kb(proc.pid, "VmRSS") / 1024))
                    next_sample += args.sample
                time.sleep(0.02)
            time.sleep(_seconds(args.interval) * 1.2 + 5)  # last stories polled and delivered
            on_time = _arrived(signed, plain)
            drain_until = time.monotonic() + args.drain
            after = started + _seconds(args.interval) * 1.2 + 5
            while time.monotonic() < drain_until and not _all_in(feeds, after, signed, plain):
                time.sleep(1.0)
            drained = time.monotonic() - drain_until + args.drain
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            peak = rss_kb(proc.pid, "VmHWM") / 1024
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            log.close()
        elapsed = time.monotonic() - started
        arrivals = _arrived(signed, plain)
        accepted = sum(200 <= r.status < 300 for rc in (signed, plain) for r in rc.received)
        repeated = accepted - len(arrivals)
    # With backfill: none a feed's first poll alerts on nothing, so stories served before the
    # first round of polls are not expected.
    settle = _seconds(args.interval) * 1.2 + 5
    window = (started + settle, started + duration)
    expected = [
        (g, at) for g, t, at in feeds.stories if feeds.watched(t) and window[0] <= at < window[1]
    ]
    latencies = [
        arrivals[(g, d)] - at
        for g, at in expected
        for d in ("signed", "plain")
        if (g, d) in arrivals
    ]
    due = [(g, d) for g, _ in expected for d in ("signed", "plain")]
    lost = sum(1 for key in due if key not in arrivals)
    late = sum(1 for key in due if key in arrivals and key not in on_time)
    warm = [rss for t, rss in samples if t >= min(60.0, duration / 5)]
    growth = _slope([(t, rss) for t, rss in samples if t >= min(60.0, duration / 5)])
    last_half = _slope([(t, rss) for t, rss in samples if t >= duration / 2])
    return {
        "mode": "kafka" if kafka else "embedded",
        "minutes": args.minutes,
        "feeds": args.feeds,
        "watchlists": args.watchlists,
        "destinations": 2,
        "interval": args.interval,
        "stories_added": len(feeds.stories),
        "articles_read_per_s": round(
            metric_sum(metrics, "newsalert_articles_polled_total") / elapsed, 1
        ),
        "new_articles_per_s": round(
            metric_sum(metrics, "newsalert_articles_published_total") / elapsed, 2
        ),
        "polls_per_s": round(metric_sum(metrics, "newsalert_feed_polls_total") / elapsed, 1),
        "alerts_per_s": round(metric_sum(metrics, "newsalert_alerts_delivered_total") / elapsed, 2),
        "alerts_expected": len(expected) * 2,
        "alerts_late": late,  # arrived only while the soak waited after the last story
        "alerts_lost": lost,  # never arrived, `drain_s` seconds after that
        "drain_s": round(drained, 1),
        "alerts_repeated": repeated,
        "latency_median_s": round(statistics.median(latencies), 2) if latencies else None,
        "latency_p99_s": round(percentile(latencies, 0.99), 2) if latencies else None,
        "peak_rss_mb": round(peak, 1),
        "rss_after_warmup_mb": [round(min(warm), 1), round(max(warm), 1)] if warm else None,
        "rss_growth_after_warmup_mb_per_min": round(growth * 60, 2) if growth is not None else None,
        # After warm-up (the first minute, or fifth of the run) and at the last sample.
        "rss_start_end_mb": [round(warm[0], 1), round(warm[-1], 1)] if warm else None,
        "rss_slope_last_half_mb_per_min": (
            round(last_half * 60, 3) if last_half is not None else None
        ),
        "rss_samples": [(t, round(m, 1)) for t, m in samples],
    }


def _arrived(*receivers: WebhookReceiver) -> dict[tuple[str, str], float]:
    """(story guid, receiver) -> first accepted arrival (monotonic, like the stories' times)."""
    arrivals: dict[tuple[str, str], float] = {}
    for name, receiver in zip(("signed", "plain"), receivers, strict=True):
        for r in list(receiver.received):
            if 200 <= r.status < 300:
                guid = r.json()["data"]["article"]["link"].rsplit("/", 1)[1].split("?")[0]
                arrivals.setdefault((guid, name), r.at)
    return arrivals


def _all_in(feeds: Feeds, after: float, *receivers: WebhookReceiver) -> bool:
    """Every alert due for the stories served since `after` has arrived."""
    arrivals = _arrived(*receivers)
    watched = [g for g, t, at in feeds.stories if at >= after and feeds.watched(t)]
    return all((g, d) in arrivals for g in watched for d in ("signed", "plain"))


def _seconds(duration: str) -> float:
    from service.units import parse_duration

    return float(parse_duration(duration))


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope (MB per second) of RSS over time."""
    if len(points) < 3:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--watchlists", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=5.0, help="new stories per second")
    parser.add_argument("--interval", default="10s", help="polling interval of every feed")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument(
        "--seen-retention",
        default="10m",
        help="polling.seen_retention of the service (short, so seen items reach their bound)",
    )
    parser.add_argument(
        "--drain", type=float, default=180.0, help="seconds to wait at most for late alerts"
    )
    parser.add_argument(
        "--remembered-outcomes",
        type=int,
        default=10_000,
        help="kafka.remembered_outcomes (fewer than the default, so the bound is reached)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kafka", action="store_true", help="run in Kafka mode")
    parser.add_argument(
        "--broker-timeout",
        default="30s",
        help="kafka.broker_timeout (a stage making no progress for twice this stops the run)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsalert-soak-") as tmp:
        work = Path(tmp)
        if not args.kafka:
            figures = soak(args, work, None)
        else:
            try:
                with start_broker(work / "broker") as bootstrap:
                    section = kafka_section(
                        bootstrap, f"soak{os.getpid()}", broker_timeout=args.broker_timeout
                    )
                    figures = soak(args, work, section)
            except BrokerUnavailableError as unavailable:
                print(unavailable, file=sys.stderr)
                return 2
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
