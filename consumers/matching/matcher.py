"""The indexed matcher: evaluate only the query parts a document could match (pure, no I/O).

Per document:

1. analyse (`document`): split each field some query reads once, and read the field's index
   keys off its words with a memoised `document.KeyFinder` (one dict lookup per word, in C);
2. select (`candidates`): the one-word parts that match outright, with their Hits built at
   compile time, and the other parts filed (`watchlist_index`) under a key or a pair of keys
   the document holds;
3. evaluate and explain (`evaluate`): each candidate's evaluator answers and lists the terms
   and fields that made it match in one go. Answering with a cheaper yes-or-no first and
   explaining only the matches was measured slower: most candidates of real articles match,
   and then both ran;
4. Hits are cached per part and explanation, as the same few explanations recur; the Hits of
   the parts of one OR that match are joined, in written order. The cache holds one Hit per
   evaluated part or `HIT_CACHE_LIMIT`, the more: a fixed limit made a large matcher start
   over every pass over a day of news, building most Hits again.

The result is exactly the reference's (`reference.NaiveMatcher`: every query's reference
evaluator on a document tokenised by the plain functions of `text`), as the property tests
check. Figures (speed, memory, the cost per article and why a split and a memo rather
than an automaton finds a document's keys) are in bench/RESULTS.md.

Compiling a large matcher allocates millions of small, long-lived objects that form no
reference cycles; how the cycle collector should treat them is the caller's business
(`consumers.gc_policy.compile_matcher`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter

from consumers.matching.candidates import accepted, candidates
from consumers.matching.document import DocumentAnalysis, Lexicon
from consumers.matching.parse import Concepts, parse_watchlist
from consumers.matching.syntax import Node
from consumers.matching.values import Document, Found, Hit, hit_of
from consumers.matching.watchlist_index import Pair, WatchlistIndex

# Hits remembered per matcher before it starts over (a few MB), or one per evaluated part if
# more; see `Matcher.match`.
HIT_CACHE_LIMIT = 50_000

_first = itemgetter(0)


class Matcher:
    """Compiled watchlists behind a term index; hits come in config order."""

    def __init__(self, queries: Sequence[tuple[str, Node]]) -> None:
        self._lexicon = Lexicon()
        self._index = index = WatchlistIndex(queries, self._lexicon)
        self._finder = index.finder
        self._names = tuple(name for name, _ in queries)
        self._hits: dict[tuple[object, ...], Hit] = {}
        self._hit_limit = max(HIT_CACHE_LIMIT, len(index.evaluators))

    @property
    def watchlists(self) -> tuple[str, ...]:
        return self._names

    @property
    def always_evaluated(self) -> int:
        """How many queries have a part with no required word, run for every document."""
        return self._index.always_queries

    def match(self, doc: Document) -> list[Hit]:
        index = self._index
        analysis = DocumentAnalysis(doc, self._lexicon, self._finder, index.fields)
        pairs = accepted(index, analysis)
        evaluators, codes, names, cache = (
            index.evaluators,
            index.codes,
            index.part_names,
            self._hits,
        )
        found: Found = []
        for number in candidates(index, analysis):
            if evaluators[number](analysis, found):
                key = (number, *found)
                hit = cache.get(key)
                if hit is None:
                    if len(cache) >= self._hit_limit:
                        cache.clear()
                    hit = cache[key] = hit_of(names[number], found)
                pairs.append((codes[number], hit))
                found = []
        return _joined_in_order(pairs, index.shift)

    def candidate_count(self, doc: Document) -> int:
        """How many query parts (a query, or a child of a top-level OR) the index selects for
        `doc`, to accept outright or to evaluate (a diagnostic: the matcher's cost per
        document grows with it)."""
        index = self._index
        analysis = DocumentAnalysis(doc, self._lexicon, self._finder, index.fields)
        return len(accepted(index, analysis)) + len(candidates(index, analysis))


def _joined_in_order(pairs: list[Pair], shift: int) -> list[Hit]:
    pairs.sort(key=_first)
    # Parts of one query are adjacent now, in written order: an OR reports the terms of each
    # true part in turn, so their Hits are joined in that order.
    hits: list[Hit] = []
    last = -1
    for code, hit in pairs:
        number = code >> shift
        if number == last:
            hits[-1] = _joined(hits[-1], hit)
        else:
            hits.append(hit)
            last = number
    return hits


def _joined(first: Hit, then: Hit) -> Hit:
    """The Hit of an OR two of whose parts matched: each term once, at its first field."""
    return hit_of(
        first.watchlist,
        list(zip(first.terms + then.terms, first.fields + then.fields, strict=True)),
    )


def compile_watchlists(
    queries: Sequence[tuple[str, str]],
    concepts: Concepts | None = None,
    *,
    parsed: Mapping[str, Node] | None = None,
) -> Matcher:
    """Parse and index (name, query) pairs; the first invalid query raises WatchlistError.

    `concepts`: the named sets `@name` in a query may refer to (`parse.Concepts`). `parsed`:
    trees already parsed with those concepts, by query text (a config check's), used instead
    of parsing the text again."""
    trees = parsed or {}
    return Matcher(
        [
            (name, trees[text] if text in trees else parse_watchlist(name, text, concepts))
            for name, text in queries
        ]
    )
