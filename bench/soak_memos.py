"""The matcher's word memos when full: what they hold at `MEMO_LIMIT`, and that they start over.

bench/soak.py's titles draw on a fixed vocabulary, so the memos of `consumers.matching.document`
fill within minutes there. News brings new words every day (names, numbers), and those fill
the memos up to `MEMO_LIMIT` words each before they start over. This script compiles the
generated broad watchlists of bench/match.py (`--watchlists`, 1,000 by default, over the real
captures), matches documents of new words of news-like length (ten letters and digits, three
to a title) until every memo has started over once, and prints the memos' size (tracemalloc,
the memos' entries, keys and values) when fullest and after starting over, and the resident
memory of the process.

    .venv/bin/python -m bench.soak_memos [--watchlists 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import string
import tracemalloc
from collections.abc import Sized

from bench.workloads import DEFAULT_REALDATA, generate_workload, real_articles
from consumers.gc_policy import compile_matcher
from consumers.matching import Document
from consumers.matching.document import MEMO_LIMIT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchlists", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    articles = real_articles(DEFAULT_REALDATA / "feeds")
    matcher = compile_matcher(generate_workload("broad", articles, args.watchlists, args.seed))
    for doc in articles:  # the real vocabulary first, as a service's day starts
        matcher.match(doc)
    rng = random.Random(args.seed)
    alphabet = string.ascii_lowercase + string.digits
    lexicon, finder = matcher._lexicon, matcher._finder  # sizing them is the point
    memos: dict[str, Sized] = {"fold": lexicon.fold, "stem": lexicon.stem, "keys": finder.of}
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fullest, at_fullest, words = 0, 1, 0
    while True:
        title = " ".join("".join(rng.choices(alphabet, k=10)) for _ in range(3))
        before = len(finder.of)
        matcher.match(Document(title=title, summary=""))
        words += 3
        if len(finder.of) < before:  # the keys memo started over
            break
        if words % 3000 == 0 and (size := tracemalloc.get_traced_memory()[0] - base) > fullest:
            fullest, at_fullest = size, words
    after = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "watchlists": args.watchlists,
                "memo_limit_words": MEMO_LIMIT,
                "new_words_matched": words,
                "memo_entries_at_end": {name: len(memo) for name, memo in memos.items()},
                "memos_fullest_mb": round(fullest / 2**20, 1),
                "bytes_per_new_word_all_memos": round(fullest / at_fullest),
                "memos_after_starting_over_mb": round(after / 2**20, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
