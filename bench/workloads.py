"""The articles and watchlists bench/match.py and bench/key_scan.py measure with.

The articles: the real feed captures under ../shared/realdata/feeds (title and summary of every
entry, through the poller's own parser), or JSON lines of your own. The watchlists: your own
YAML, or generated from the articles' vocabulary with a seed, as follows.

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

import json
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import yaml

from consumers.matching import Document
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
