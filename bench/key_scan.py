"""Finding a document's index keys: the matcher's regex split and memo against automata.

The indexed matcher's fixed cost per article is finding which of the keys its queries are
filed under (stems, wildcard prefixes, unspaced substrings: `query_keys.key_of`) the title and
summary hold. It splits each field with one regex and looks every word up in a memo
(`keys.KeyFinder`). The issue asked for the fastest sound tool, measured: this benchmark
times that path against the multi-pattern matchers on PyPI, on the same generated watchlists
(bench/workloads.py) and the real articles:

    .venv/bin/pip install -e '.[bench]'    # pyahocorasick, ahocorasick-rs, hyperscan
    .venv/bin/python -m bench.key_scan [--sizes 1000,100000] [--workloads broad,selective]

One JSON line per workload and size, times in microseconds per article (title and summary):

- memo_us: the matcher's way, exact: `tokenise_fast` then one memo lookup per word, memo warm
  (as in a running matcher); memo_cold_us: the first pass, memo empty.
- pyahocorasick_us, ahocorasick_rs_us: one pass of an Aho-Corasick automaton over the
  lower-cased fields, collecting every raw hit. A raw hit is not a key yet: "mar" inside
  "summary", "rate" inside "rated" and "irate" are hits too, so an exact finder would still have
  to check word boundaries, plural endings, accents and fields for each, in Python. These
  figures are a lower bound on what an automaton-based finder would cost.
  ahocorasick_rs_word_start_us: the ahocorasick_rs pass plus the first of those checks, in
  Python: dropping the hits that do not start a word.
- hyperscan_us: the same with Vectorscan (the hyperscan package), one pattern per key with
  word boundaries and an optional plural ending, each reported once per field
  (HS_FLAG_SINGLEMATCH): closer to exact, still approximate (no accent folding, no stemming
  rules beyond -s and -es). hyperscan_compile_s: its database's compile time.
- keys_per_article: keys the exact path finds; raw_hits_per_article: the hits the
  ahocorasick_rs pass returns, each of which an exact automaton-based finder would examine.
- Backquoted (case-sensitive) keys, 3% of generated terms, are left out of the automata: that
  can only flatter them.

A package that is not installed gives null for its figures.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import time
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.workloads import DEFAULT_REALDATA, WORKLOADS, generate_workload, real_articles
from consumers.matching.document import KeyFinder, Lexicon
from consumers.matching.parse import parse_watchlist
from consumers.matching.query_keys import term_keys
from consumers.matching.syntax import terms
from consumers.matching.text import tokenise_fast
from consumers.matching.values import Document

MIN_SECONDS = 1.0  # each method loops over the corpus at least this long


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--workloads", default="broad,selective")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    articles = real_articles(args.realdata / "feeds")
    for workload in args.workloads.split(","):
        if workload not in WORKLOADS:
            parser.error(f"unknown workload {workload!r}: use {', '.join(WORKLOADS)}")
        for size in (int(part) for part in args.sizes.split(",")):
            watchlists = generate_workload(workload, articles, size, args.seed)
            keys = index_keys(watchlists)
            figures = {"workload": workload, "watchlists": size, "keys": len(keys)}
            print(json.dumps(figures | measure(keys, articles)), flush=True)
    return 0


def index_keys(watchlists: list[tuple[str, str]]) -> set[str]:
    """Every key some term of the watchlists is filed under, as the matcher computes them."""
    return {
        key
        for name, text in watchlists
        for term in terms(parse_watchlist(name, text))
        for key in term_keys(term)
    }


def measure(keys: set[str], articles: list[Document]) -> dict[str, Any]:
    fields = [text for doc in articles for text in (doc.title, doc.summary)]
    count = len(articles)

    finder = KeyFinder(keys, Lexicon())
    lookup = finder.of.__getitem__

    def exact() -> int:
        return sum(len(set(chain.from_iterable(map(lookup, tokenise_fast(t))))) for t in fields)

    start = time.perf_counter()
    found = exact()
    figures: dict[str, Any] = {
        "memo_cold_us": _us(time.perf_counter() - start, count),
        "memo_us": _us(_timed(exact), count),
        "keys_per_article": round(found / count, 1),
    }

    # The automata get the folded keys' bodies: "rate", "mar" of "*mar", "中国" of "~中国".
    bodies = sorted({key.lstrip("*~") for key in keys if not key.startswith("`")})
    lowered = [text.lower() for text in fields]

    pyac = _optional("ahocorasick")
    figures["pyahocorasick_us"] = None
    if pyac is not None:
        automaton = pyac.Automaton()
        for body in bodies:
            automaton.add_word(body, body)
        automaton.make_automaton()
        hits = automaton.iter

        def pyahocorasick() -> int:
            return sum(len({value for _, value in hits(text)}) for text in lowered)

        figures["pyahocorasick_us"] = _us(_timed(pyahocorasick), count)

    rsac = _optional("ahocorasick_rs")
    figures["ahocorasick_rs_us"] = figures["ahocorasick_rs_word_start_us"] = None
    figures["raw_hits_per_article"] = None
    if rsac is not None:
        find = rsac.AhoCorasick(bodies).find_matches_as_indexes

        def ahocorasick_rs() -> int:
            return sum(len(find(text, overlapping=True)) for text in lowered)

        def word_starts() -> int:
            # The first of the checks an exact finder needs: does the hit start a word?
            return sum(
                len(
                    [h for h in find(t, overlapping=True) if h[1] == 0 or not t[h[1] - 1].isalnum()]
                )
                for t in lowered
            )

        figures["ahocorasick_rs_us"] = _us(_timed(ahocorasick_rs), count)
        figures["ahocorasick_rs_word_start_us"] = _us(_timed(word_starts), count)
        figures["raw_hits_per_article"] = round(ahocorasick_rs() / count, 1)

    figures |= _hyperscan(keys, fields, count)
    return figures


def _hyperscan(keys: set[str], fields: list[str], count: int) -> dict[str, Any]:
    hs = _optional("hyperscan")
    if hs is None:
        return {"hyperscan_us": None, "hyperscan_compile_s": None}
    patterns = []
    for key in sorted(k for k in keys if not k.startswith("`")):
        body = re.escape(key[1:] if key[0] in "*~" else key).encode()
        if key.startswith("*"):
            patterns.append(rb"\b" + body)
        elif key.startswith("~"):
            patterns.append(body)
        else:
            patterns.append(rb"\b" + body + rb"(?:e?s)?\b")
    flags = hs.HS_FLAG_SINGLEMATCH | hs.HS_FLAG_CASELESS | hs.HS_FLAG_UTF8
    database = hs.Database()
    start = time.perf_counter()
    database.compile(
        expressions=patterns,
        ids=list(range(len(patterns))),
        elements=len(patterns),
        flags=[flags] * len(patterns),
    )
    compile_s = time.perf_counter() - start
    scratch = hs.Scratch(database)

    found: set[int] = set()

    def report(pattern: int, *_: object) -> None:
        found.add(pattern)  # returns None: the scan goes on

    def scan() -> int:
        total = 0
        for text in fields:
            found.clear()
            # Encoding is part of the cost: the matcher receives str.
            database.scan(text.encode(), match_event_handler=report, scratch=scratch)
            total += len(found)
        return total

    return {
        "hyperscan_us": _us(_timed(scan), count),
        "hyperscan_compile_s": round(compile_s, 2),
    }


def _optional(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ImportError:
        print(f"{module} is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return None


def _timed(run: Callable[[], int]) -> float:
    """Seconds per pass, after a warm-up pass, looping for at least MIN_SECONDS."""
    run()
    passes, start = 0, time.perf_counter()
    while True:
        run()
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= MIN_SECONDS:
            return elapsed / passes


def _us(seconds: float, articles: int) -> float:
    return round(seconds / articles * 1e6, 1)


if __name__ == "__main__":
    sys.exit(main())
