"""End-to-end latency from a feed change to the webhook, over Apache Kafka or embedded.

Starts a local single-node broker with scripts/kafka (unless --embedded), a feed server with
N feeds polled every second, a signature-checking webhook receiver, and newsalert's three
stages as separate processes (`--run`: the one `newsalert run` process over Kafka). After one
warm-up story has gone all the way through, it adds stories to the feeds over time and records,
for each, when the feed first served it and when the receiver first accepted its alert. Prints
one JSON line: count, median_s, p99_s, max_s, lost, repeated (and the set-up).

    .venv/bin/python -m bench.kafka_latency [--stories 200] [--feeds 10] [--rate 5]
    .venv/bin/python -m bench.kafka_latency --embedded

It reuses the Kafka tests' helpers (tests.support), so it runs as a module from the repo root.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.support.broker import kafka_section, start_broker
from tests.support.processes import Stage
from tests.support.rig import first_arrivals, pipeline_rig, tally, wait_delivered
from tests.support.story_feeds import Stream

DESTINATION = "bench"


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with ExitStack() as broker:
        kafka: dict[str, Any] | None = None
        if not args.embedded:
            kafka = kafka_section(broker.enter_context(start_broker(work / "broker")), "bench")
        with pipeline_rig(
            work / "newsalert.yaml",
            feeds=args.feeds,
            kafka=kafka,
            destinations=(DESTINATION,),
            interval="1s",
            backfill="none",
        ) as (feeds, hook, supervisor, config):
            roles = ["run"] if args.embedded or args.run else ["poller", "matcher", "notifier"]
            for role in roles:
                supervisor.start(Stage(role, config, work / "logs"), restart=False)

            # Warm up: processes started, groups joined, feeds polled once (backfill: none).
            warmup_deadline = time.monotonic() + 120
            while not hook.received and time.monotonic() < warmup_deadline:
                feeds.add()
                supervisor.check()
                time.sleep(2.0)
            if not hook.received:
                raise SystemExit(f"no alert within 120 s of start\n{supervisor.tails()}")
            time.sleep(3.0)
            warmup = len(feeds.stories)

            with Stream(feeds, total=args.stories, rate=args.rate, non_matching_every=0) as s:
                s.join(within=args.stories / args.rate + 60)
            # Warm-up stories polled before the first poll are never alerted (backfill: none).
            measured = feeds.stories[warmup:]
            expected = {(story.title, DESTINATION) for story in measured}
            wait_delivered(hook, expected, within=60, quiet=3, supervisor=supervisor)
            arrivals = first_arrivals(hook)
            supervisor.stop_all()

    latencies = sorted(
        arrivals[story.title, DESTINATION] - story.added_at
        for story in measured
        if (story.title, DESTINATION) in arrivals
    )
    whole = tally(hook, expected)
    return {
        "mode": "embedded" if args.embedded else ("kafka-run" if args.run else "kafka-stages"),
        "feeds": args.feeds,
        "interval_s": 1.0,
        "stories_per_s": args.rate,
        "count": len(latencies),
        "median_s": round(statistics.median(latencies), 3) if latencies else None,
        "p99_s": round(percentile(latencies, 0.99), 3) if latencies else None,
        "max_s": round(latencies[-1], 3) if latencies else None,
        "lost": len(measured) - len(latencies),
        "repeated": whole.repeated,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=200, help="stories to measure (>= 200)")
    parser.add_argument("--feeds", type=int, default=10)
    parser.add_argument("--rate", type=float, default=5.0, help="stories added per second")
    parser.add_argument("--embedded", action="store_true", help="measure the embedded mode")
    parser.add_argument("--run", action="store_true", help="Kafka, all stages in `newsalert run`")
    parser.add_argument("--keep", type=Path, help="work directory to keep (logs, config)")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        figures = measure(args, args.keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="newsalert-latency-") as tmp:
            figures = measure(args, Path(tmp))
    print(json.dumps(figures))
    return 0 if figures["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
