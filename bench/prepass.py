"""The poller's fast pass against feedparser over the real feed captures, on one core.

For every capture in ../shared/realdata/feeds it times, best of `--repeat`: `parse_feed` of the
whole document (what every changed body cost before), `prepass.scan` alone (what a body with
no new entry costs now), and scan plus feedparser over the newest entry only (one new story).
Prints one JSON object: entries, and entries a second for each, over all captures.

    .venv/bin/python -m bench.prepass [--repeat 5] [--realdata DIR]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".md", ".json", ".tsv"}


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--realdata", type=Path, default=ROOT.parent / "shared" / "realdata")
    args = parser.parse_args()
    from service.errors import ParseError
    from service.models import FeedRef
    from service.parse import parse_feed
    from service.prepass import Scan, parse_chosen, scan

    fetched = datetime.now(UTC)
    totals = {"full_parse": 0.0, "scan": 0.0, "scan_and_one_entry": 0.0}
    entries = told = documents = 0
    for p in sorted((args.realdata / "feeds").rglob("*")):
        if not p.is_file() or p.suffix in SKIP or p.name.startswith(("LICENSE", "README")):
            continue
        body = p.read_bytes()
        ref = FeedRef(name=p.name, url=f"http://127.0.0.1/{p.name}")
        try:
            full = parse_feed(body, feed=ref, fetched_at=fetched)
        except ParseError:
            continue
        scanned = scan(body, feed=ref, content_type=None, max_items=1000)
        if scanned.entries is None:
            continue  # parsed in full by the poller: no saving to measure
        documents += 1
        entries += len(full.articles)
        told += sum(e.id is not None for e in scanned.entries)
        full_parse = functools.partial(parse_feed, body, feed=ref, fetched_at=fetched)
        scan_only = functools.partial(scan, body, feed=ref, content_type=None, max_items=1000)

        def one(scan_only: functools.partial[Scan] = scan_only, ref: FeedRef = ref) -> None:
            parse_chosen(scan_only(), [0], feed=ref, fetched_at=fetched, max_items=1000)

        totals["full_parse"] += best(full_parse, args.repeat)
        totals["scan"] += best(scan_only, args.repeat)
        totals["scan_and_one_entry"] += best(one, args.repeat)
    figures = {
        "documents": documents,
        "entries": entries,
        "ids_told": told,
        **{f"{k}_entries_per_s": round(entries / v) for k, v in totals.items()},
        **{f"{k}_ms_per_document": round(v * 1000 / documents, 2) for k, v in totals.items()},
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
