"""Match articles against many watchlists: the indexed matcher's speed, memory and speedup.

By default it reads the real feed captures under ../shared/realdata/feeds (title and summary of
every entry, as the poller would produce them), builds vocabularies from those articles, and
for N = 1,000, 10,000 and 100,000 and each workload (broad and selective unless told) generates
N watchlists of realistic shape, then prints one JSON line per workload and N:

    .venv/bin/python bench/match.py [--sizes 1000,10000,100000] [--workloads broad,selective]
                                    [--seed 1]

On other people's rules and articles:

    .venv/bin/python bench/match.py --watchlists FILE --articles FILE

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
and every figure that needs it (at 100,000 watchlists it takes minutes). Each workload and size runs in its own process, so one run's memory does not
show in another's figures.

Generated watchlists, both workloads. Each query holds 1 to 6 terms in one of these shapes
(share of queries): one term (20%); an OR group of 2 to 6 terms (25%); two adjacent terms, an
implicit AND (15%); two parenthesised OR groups of 1 to 3 terms joined by AND (12%); an OR
group of 1 to 4 terms, NOT a term (10%); word NEAR/2..10 word (8%); title:(OR group of 1 to 3)
(6%); NOT a term AND summary:word (4%). A term is (share of terms): a quoted two-word phrase
(15%), a trailing wildcard (10%), a backquoted acronym (3%), an unspaced (Chinese) two-character
substring (2%), else a single word (70%); a NEAR side or summary: word is a word, or one time in
five a wildcard. "Content words" are corpus words of letters only, at least three characters,
not in STOP_WORDS; a word's document frequency (df) is the share of articles (title or
summary) holding it. All draws are uniform from the lists below, with the given seed.

- broad: words are all content words; phrases all pairs of adjacent content words of titles
  and summaries; wildcards a word cut to max(3, length - 3) letters, or max(3, length - 2)
  beside NEAR and summary: (so "for*", "mar*" occur);
  acronyms all all-capital words of 3 to 5 letters; substrings all two-character pieces of
  unspaced runs. Short wildcards and common words make every article match about 0.5% of the
  watchlists: a stress test, not a model of anyone's rules.
- selective: modelled on watchlists built around specific names (companies, people, places,
  tickers, topics). Words are the content words with df <= 1% (at most 11 of the 1,169 real
  articles; at most 1 article on a corpus under 100); phrases the pairs of adjacent content
  words of titles only; wildcards one of those words cut to max(5, length - 2) letters;
  acronyms and substrings those with df <= 1%. The shares of shapes and term kinds are the
  broad ones. No word is drawn from outside the corpus, so every term can match some article.
- absent (only when asked for with --workloads): 1,000 selective watchlists, and the rest of
  the N drawn the selective way from the same lists with "qz" put before every word, phrase
  word and acronym (no corpus word starts so; unspaced substrings are left out): rules that
  never fire on this corpus, as most of a large rule set would not on one day's news. It
  measures what the non-matching watchlists cost, apart from the cost of matches.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import yaml

from consumers.gc_policy import compile_matcher
from consumers.matching import Document, Hit, compile_naive
from consumers.matching.text import fold, is_unspaced, tokenise

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REALDATA = ROOT.parent / "shared" / "realdata"
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "said",
        "same",
        "says",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "year",
        "years",
        "you",
        "your",
        "new",
        "one",
        "two",
    ]
)
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
                command = [sys.executable, __file__, "--articles", str(corpus)]
                command += ["--generate", str(size), "--seed", str(args.seed)]
                command += ["--workload", workload] + (["--no-naive"] if args.no_naive else [])
                subprocess.run(command, check=True)  # noqa: S603 (our own script and arguments)
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


# --- corpus --------------------------------------------------------------------------------


def real_articles(feeds: Path) -> list[Document]:
    """Title and summary of every entry of the saved feeds, through the poller's own parser."""
    from service.errors import ParseError
    from service.models import FeedRef
    from service.parse import parse_feed

    if not feeds.is_dir():
        raise SystemExit(f"no feed captures at {feeds}: pass --realdata DIR or --articles FILE")
    documents = []
    now = datetime.now(UTC)
    for path in sorted(feeds.rglob("*")):
        if path.suffix not in (".xml", ".rss", ".atom"):
            continue
        feed = FeedRef(name=path.parent.name, url=f"https://example.org/{path.name}")
        try:
            parsed = parse_feed(path.read_bytes(), feed=feed, fetched_at=now)
        except ParseError:
            continue
        for article in parsed.articles:
            documents.append(Document(article.title, article.summary, feed.name, article.link))
    return documents


def write_articles(path: Path, documents: list[Document]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for doc in documents:
            record = {"title": doc.title, "summary": doc.summary, "feed": doc.feed}
            out.write(json.dumps(record | {"link": doc.link}, ensure_ascii=False) + "\n")


def read_articles(path: Path) -> list[Document]:
    documents = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                item = json.loads(line)
                documents.append(
                    Document(
                        str(item.get("title") or ""),
                        str(item.get("summary") or ""),
                        str(item.get("feed") or ""),
                        str(item.get("link") or ""),
                    )
                )
    return documents


def read_watchlists(path: Path) -> list[tuple[str, str]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (safe loader)
    if isinstance(data, dict):
        data = data.get("watchlists")
    if not isinstance(data, list):
        raise SystemExit(f"{path}: expected a YAML list of watchlists with name and query")
    return [(str(item["name"]), str(item["query"])) for item in data]


# --- generated watchlists ------------------------------------------------------------------


WORKLOADS = ("broad", "selective", "absent")
ABSENT_LIVE = 1_000  # watchlists of the "absent" workload that can match anything
ABSENT_MARK = "qz"  # no word of the corpus starts so (checked when generating)
SELECTIVE_DF = 0.01  # selective terms occur in at most this share of the articles


class Vocabulary:
    """Words, phrases, acronyms and unspaced runs of a corpus, to draw query terms from (see
    the module docstring for the two workloads)."""

    def __init__(self, documents: list[Document], selective: bool = False) -> None:
        df: Counter[str] = Counter()  # documents holding each folded word, acronym, run
        pairs: set[tuple[str, str]] = set()
        for doc in documents:
            seen: set[str] = set()
            for field, text in (("title", doc.title), ("summary", doc.summary)):
                tokens = tokenise(text)
                for word, following in zip(tokens, [*tokens[1:], ""], strict=False):
                    if is_unspaced(word):
                        seen.update("~" + word[i : i + 2] for i in range(len(word) - 1))
                        continue
                    if not _content(word):
                        continue
                    seen.add(fold(word))
                    if word.isupper() and 2 < len(word) < 6:
                        seen.add("`" + word)
                    if _content(following) and (field == "title" or not selective):
                        pairs.add((fold(word), fold(following)))
            df.update(seen)
        limit = max(1, SELECTIVE_DF * len(documents)) if selective else len(documents)
        kept = sorted(key for key, count in df.items() if count <= limit)
        self.selective = selective
        self.words = [key for key in kept if key[0] not in "~`"]
        self.phrases = sorted(pairs)
        self.acronyms = [key[1:] for key in kept if key[0] == "`"]
        self.runs = [key[1:] for key in kept if key[0] == "~"]
        if not self.words:
            raise SystemExit("the articles hold no content words to build watchlists from")

    def wildcard(self, word: str, cut: int) -> str:
        if self.selective:
            return word[: max(5, len(word) - 2)] + "*"
        return word[: max(3, len(word) - cut)] + "*"


def _content(word: str) -> bool:
    return len(word) >= 3 and word.isalpha() and word.isascii() and word.lower() not in STOP_WORDS


def generate_workload(
    workload: str, documents: list[Document], count: int, seed: int
) -> list[tuple[str, str]]:
    """The watchlists of one workload (see the module docstring)."""
    vocabulary = Vocabulary(documents, selective=workload != "broad")
    if workload != "absent":
        return generate_watchlists(vocabulary, count, random.Random(seed))
    live = generate_watchlists(vocabulary, min(count, ABSENT_LIVE), random.Random(seed))
    if any(word.startswith(ABSENT_MARK) for word in Vocabulary(documents).words):
        raise SystemExit(f"the corpus has words starting with {ABSENT_MARK!r}: cannot mark")
    vocabulary.words = [ABSENT_MARK + word for word in vocabulary.words]
    vocabulary.phrases = [(ABSENT_MARK + a, ABSENT_MARK + b) for a, b in vocabulary.phrases]
    vocabulary.acronyms = [ABSENT_MARK.upper() + word for word in vocabulary.acronyms]
    vocabulary.runs = []  # unspaced pieces cannot be marked without changing their script
    dead = generate_watchlists(vocabulary, count - len(live), random.Random(seed + 1))
    return live + [(f"x{number}", query) for number, (_, query) in enumerate(dead)]


def generate_watchlists(v: Vocabulary, count: int, rng: random.Random) -> list[tuple[str, str]]:
    return [(f"w{number}", generate_query(v, rng)) for number in range(count)]


def generate_query(v: Vocabulary, rng: random.Random) -> str:
    """One query of 1 to 6 terms in one of the shapes people write."""

    def term() -> str:
        roll = rng.random()
        if roll < 0.15 and v.phrases:
            return '"{} {}"'.format(*rng.choice(v.phrases))
        if roll < 0.25:
            return v.wildcard(rng.choice(v.words), 3)
        if roll < 0.28 and v.acronyms:
            return f"`{rng.choice(v.acronyms)}`"
        if roll < 0.30 and v.runs:
            return rng.choice(v.runs)
        return rng.choice(v.words)

    def group(size: int) -> str:
        return " OR ".join(term() for _ in range(size))

    shape = rng.random()
    if shape < 0.20:
        return term()
    if shape < 0.45:
        return group(rng.randint(2, 6))
    if shape < 0.60:
        return f"{term()} {term()}"
    if shape < 0.72:
        return f"({group(rng.randint(1, 3))}) AND ({group(rng.randint(1, 3))})"
    if shape < 0.82:
        return f"({group(rng.randint(1, 4))}) NOT {term()}"
    if shape < 0.90:
        return f"{_single(v, rng)} NEAR/{rng.randint(2, 10)} {_single(v, rng)}"
    if shape < 0.96:
        return f"title:({group(rng.randint(1, 3))})"
    return f"NOT {term()} AND summary:{_single(v, rng)}"


def _single(v: Vocabulary, rng: random.Random) -> str:
    word = rng.choice(v.words)
    return word if rng.random() < 0.8 else v.wildcard(word, 2)


if __name__ == "__main__":
    sys.exit(main())
