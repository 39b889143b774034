"""Story grouping cost per article with N open stories, and memory per open story.

Builds articles from the word frequencies of the real feed captures (../shared/realdata/feeds,
every entry's title and summary; a Zipf vocabulary when they are absent): each title draws
8-14 words and each summary 30, by real frequency, so common words have long postings as
they would in a live window. A share of the articles (--copies) are rewordings of an open
story from another feed (half its title words kept, the rest redrawn). It fills a StoryIndex
with N open stories, then times `expire` + `assign` for --articles more, with times spaced so
that expiry keeps about N stories open, and prints one JSON line:

    .venv/bin/python -m bench.stories [--open 10000] [--articles 5000] [--copies 0.2] [--seed 1]

Fields: open_stories (at the end), median_ms, p99_ms, max_ms (per article, wall clock),
cpu_median_ms, cpu_p99_ms (per article, this process's CPU time: the cost on one core, which
other jobs on a shared machine do not inflate), grouped (articles that joined a story),
bytes_per_story (tracemalloc: the index's memory after the fill divided by the stories open;
the articles themselves are not counted).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from consumers.stories import StoryIndex, StoryItem

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata" / "feeds"

START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = timedelta(hours=48)


def vocabulary(rng: random.Random) -> tuple[list[str], list[int]]:
    """Words and their counts in the real captures, else a generated Zipf vocabulary."""
    counts: Counter[str] = Counter()
    if REALDATA.is_dir():
        import feedparser  # the bench only: the index itself never parses

        for path in sorted(REALDATA.rglob("*")):
            if path.suffix not in (".xml", ".rss", ".atom"):
                continue
            for entry in feedparser.parse(path.read_bytes()).entries:
                text = f"{entry.get('title', '')} {entry.get('summary', '')}"
                counts.update(re.findall(r"[A-Za-z][A-Za-z'-]+", re.sub(r"<[^>]*>", " ", text)))
    if len(counts) < 1000:
        letters = "abcdefghijklmnopqrstuvwxyz"
        counts = Counter(
            {
                "".join(rng.choices(letters, k=rng.randint(3, 9))): 100_000 // (i + 1)
                for i in range(20_000)
            }
        )
    words = list(counts)
    return words, [counts[w] for w in words]


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words, self.weights = vocabulary(self.rng)
        self.n = 0

    def text(self, k: int) -> list[str]:
        return self.rng.choices(self.words, self.weights, k=k)

    def article(self, at: datetime, like: StoryItem | None = None) -> StoryItem:
        self.n += 1
        if like is None:
            title = self.text(self.rng.randint(8, 14))
        else:
            kept = like.title.split()
            title = self.rng.sample(kept, len(kept) // 2) + self.text(len(kept) - len(kept) // 2)
        return StoryItem(
            article_id=f"a{self.n}",
            feed=f"feed-{self.rng.randrange(200)}",
            title=" ".join(title).capitalize(),
            summary=" ".join(self.text(30)).capitalize() + ".",
            link=f"https://news.example/{self.n}",
            at=at,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=5_000)
    parser.add_argument("--copies", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    gen = Generator(args.seed)
    step = WINDOW / args.open  # expiry then keeps about `open` stories open
    recent: list[StoryItem] = []

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = StoryIndex(WINDOW)
    fill = [gen.article(START + step * i) for i in range(args.open)]
    baseline = tracemalloc.get_traced_memory()[0] - before  # the articles, not the index
    for item in fill:
        index.assign(item)
    index_bytes = tracemalloc.get_traced_memory()[0] - before - baseline
    tracemalloc.stop()
    open_after_fill = len(index)
    recent = fill[-1000:]

    timings: list[float] = []
    cpu: list[float] = []
    grouped = 0
    for i in range(args.articles):
        at = START + step * (args.open + i)
        like = gen.rng.choice(recent) if gen.rng.random() < args.copies else None
        item = gen.article(at, like)
        t0, c0 = time.perf_counter_ns(), time.process_time_ns()
        index.expire(at)
        assignment = index.assign(item)
        cpu.append((time.process_time_ns() - c0) / 1e6)
        timings.append((time.perf_counter_ns() - t0) / 1e6)
        grouped += not assignment.first
        recent[i % len(recent)] = item
    timings.sort()
    cpu.sort()
    print(
        json.dumps(
            {
                "open_stories": len(index),
                "articles": args.articles,
                "copies": args.copies,
                "median_ms": round(statistics.median(timings), 4),
                "p99_ms": round(timings[int(0.99 * len(timings))], 4),
                "max_ms": round(timings[-1], 3),
                "cpu_median_ms": round(statistics.median(cpu), 4),
                "cpu_p99_ms": round(cpu[int(0.99 * len(cpu))], 4),
                "grouped": grouped,
                "bytes_per_story": round(index_bytes / open_after_fill),
                "vocabulary": len(gen.words),
            }
        )
    )


if __name__ == "__main__":
    main()
