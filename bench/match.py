"""Match articles against many watchlists: the indexed matcher's speed, memory and speedup.

By default it reads the real feed captures under ../shared/realdata/feeds (title and summary of
every entry, as the poller would produce them), builds vocabularies from those articles, and
for N = 1,000, 10,000 and 100,000 and each workload (broad and selective unless told) generates
N watchlists of realistic shape, then prints one JSON line per workload and N:

    .venv/bin/python -m bench.match [--sizes 1000,10000,100000] [--workloads broad,selective]
                                    [--seed 1]

On other people's rules and articles:

    .venv/bin/python -m bench.match --watchlists FILE --articles FILE

(watchlists: a YAML list of `name` and `query`, or a config file with a `watchlists:` key;
articles: JSON lines with at least `title` and `summary`, optionally `feed` and `link`).

Each line holds: workload ("broad", "selective", "absent", or "given" for --watchlists),
watchlists, articles, articles_per_s (indexed matcher, one core, looping over the corpus for at least two
seconds, so its word memos are warm), first_pass_articles_per_s (the first pass only, memos
cold: closer to a stream of unseen text), us_per_match and first_pass_us_per_match (the same
two runs' time divided by the matches they reported: what each reported match costs where
matches dominate, as at 100,000 watchlists), cpu_articles_per_s and cpu_us_per_match (the
warm figures over this process's CPU time rather than the clock: on a shared machine, closer
to what one core does), compile_s, peak_mb (the measuring process's peak
resident memory, interpreter and corpus included), speedup_vs_naive (warm over warm: the
indexed matcher's articles_per_s over `compile_naive`'s, the evaluate-every-query reference,
timed on its second pass over a sample of naive_sample articles when it is slow) and
first_pass_speedup_vs_naive (cold over cold: both first passes), matches_per_article
(watchlists matched per article), candidates_per_article (query parts the index selected per
article, to accept outright or to explain: a query, or each child of a query that is an OR),
always_evaluated, agree (the two matchers returned identical hits, terms and fields) and
agree_compared (on how many articles: every one). `--no-naive` leaves out the reference
and every figure that needs it (at 100,000 watchlists it takes minutes). Each workload and
size runs in its own process, so one run's memory does not show in another's figures.

The articles and generated watchlists come from bench/workloads.py, which describes them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.workloads import (
    DEFAULT_REALDATA,
    ROOT,
    WORKLOADS,
    generate_workload,
    read_articles,
    read_watchlists,
    real_articles,
    write_articles,
)
from consumers.gc_policy import compile_matcher
from consumers.matching import Document, Hit, compile_naive

NAIVE_BUDGET_S = 3.0  # time spent on the naive reference per size; enough for a stable rate
FAST_MIN_S = 2.0  # the indexed matcher loops over the corpus until this much time has passed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchlists", type=Path, help="YAML list of name and query")
    parser.add_argument("--articles", type=Path, help="JSON lines with title and summary")
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--sizes", default="1000,10000,100000", help="generated watchlist counts")
    parser.add_argument("--workloads", default="broad,selective", help="generated workloads")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-naive", action="store_true", help="skip the reference: speed figures only"
    )
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)  # one size, in a child
    parser.add_argument("--workload", default="broad", help=argparse.SUPPRESS)  # in a child
    args = parser.parse_args(argv)

    if args.watchlists or args.generate:
        articles = read_articles(args.articles) if args.articles else None
        if articles is None:
            parser.error("--articles FILE is needed with --watchlists")
        if args.watchlists:
            workload, watchlists = "given", read_watchlists(args.watchlists)
        else:
            workload = args.workload
            watchlists = generate_workload(workload, articles, args.generate, args.seed)
        figures = measure(watchlists, articles, with_naive=not args.no_naive)
        print(json.dumps({"workload": workload} | figures), flush=True)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "articles.jsonl"
        if args.articles:
            corpus.write_bytes(args.articles.read_bytes())
        else:
            write_articles(corpus, real_articles(args.realdata / "feeds"))
        for workload in args.workloads.split(","):
            if workload not in WORKLOADS:
                parser.error(f"unknown workload {workload!r}: use {', '.join(WORKLOADS)}")
            for size in (int(part) for part in args.sizes.split(",")):
                command = [sys.executable, "-m", "bench.match", "--articles", str(corpus)]
                command += ["--generate", str(size), "--seed", str(args.seed)]
                command += ["--workload", workload] + (["--no-naive"] if args.no_naive else [])
                subprocess.run(command, check=True, cwd=ROOT)  # noqa: S603 (our own module and arguments)
    return 0


def measure(
    watchlists: list[tuple[str, str]], articles: list[Document], *, with_naive: bool = True
) -> dict[str, object]:
    """Figures for one set of watchlists over one corpus (see the module docstring)."""
    start = time.perf_counter()
    matcher = compile_matcher(watchlists)  # as the service compiles: see its docstring
    compile_s = time.perf_counter() - start

    hits = passes = 0
    first_pass_s = 0.0
    start, cpu_start = time.perf_counter(), time.process_time()
    while True:
        for doc in articles:
            hits += len(matcher.match(doc))
        passes += 1
        elapsed = time.perf_counter() - start
        first_pass_s = first_pass_s or elapsed
        if elapsed >= FAST_MIN_S:
            break
    fast_rate = passes * len(articles) / elapsed
    cpu = time.process_time() - cpu_start
    per_match = elapsed / max(hits, 1) * 1e6
    first_pass_per_match = first_pass_s / max(hits // passes, 1) * 1e6
    candidates = sum(matcher.candidate_count(doc) for doc in articles)
    speed = {
        "watchlists": len(watchlists),
        "articles": len(articles),
        "articles_per_s": round(fast_rate),
        "first_pass_articles_per_s": round(len(articles) / first_pass_s),
        "us_per_match": round(per_match, 2),
        "first_pass_us_per_match": round(first_pass_per_match, 2),
        "cpu_articles_per_s": round(passes * len(articles) / cpu),
        "cpu_us_per_match": round(cpu / max(hits, 1) * 1e6, 2),
        "compile_s": round(compile_s, 2),
    }
    if not with_naive:
        return speed | {
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "matches_per_article": round(hits / (passes * len(articles)), 2),
            "candidates_per_article": round(candidates / len(articles), 2),
        }

    naive = compile_naive(watchlists)
    # The plain evaluator, timed like the indexed matcher: its first pass (cold) over a sample
    # of the corpus as large as NAIVE_BUDGET_S allows, then the same sample again (warm), so
    # the ratios compare cold with cold and warm with warm.
    sample: list[Document] = []
    start = time.perf_counter()
    for doc in articles:
        naive.match(doc)
        sample.append(doc)
        if time.perf_counter() - start >= NAIVE_BUDGET_S:
            break
    naive_cold_rate = len(sample) / max(time.perf_counter() - start, 1e-9)
    start = time.perf_counter()
    for doc in sample:
        naive.match(doc)
    naive_rate = len(sample) / max(time.perf_counter() - start, 1e-9)
    # Agreement on every article, untimed (at 100,000 watchlists this takes minutes).
    compared = 0
    agree = True
    for doc in articles:
        agree = _same(naive.match(doc), matcher.match(doc)) and agree
        compared += 1
    first_pass_rate = len(articles) / first_pass_s

    return speed | {
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "speedup_vs_naive": round(fast_rate / naive_rate, 1),
        "first_pass_speedup_vs_naive": round(first_pass_rate / naive_cold_rate, 1),
        "naive_articles_per_s": round(naive_rate, 1),
        "naive_first_pass_articles_per_s": round(naive_cold_rate, 1),
        "naive_sample": len(sample),
        "matches_per_article": round(hits / (passes * len(articles)), 2),
        "candidates_per_article": round(candidates / len(articles), 2),
        "always_evaluated": matcher.always_evaluated,
        "agree": agree,
        "agree_compared": compared,
    }


def _same(expected: list[Hit], got: list[Hit]) -> bool:
    return expected == got and [h.fields for h in expected] == [h.fields for h in got]


if __name__ == "__main__":
    sys.exit(main())
