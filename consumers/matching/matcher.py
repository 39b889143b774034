"""The indexed matcher: evaluate only the queries a document could match (pure, no I/O).

Like Lucene Monitor and the Elasticsearch percolator, each compiled query is filed under the
keys one of which any matching document must contain (`required`): its cheapest clause.
Queries with no such clause (`NOT foo`) are evaluated for every document. Per document:

1. analyse: split each field some query reads once, and read the field's index keys off its
   words with a memoised `keys.KeyFinder` (one dict lookup per word, in C);
2. accept: a one-word term (a fifth of real watchlists) matches exactly when its key is in
   one of its fields, and reports the first such field; its Hit for each field is built at
   compile time and filed under its key per field, so the document's key sets pick the Hits
   out with set operations in C, and the query is never evaluated;
3. explain: every other query filed under a key the document holds runs its explainer
   (`explain`), which answers and lists the terms and fields that made it match in one go
   (an AND first screens the other clauses it needs: set tests in C). Answering with a
   cheaper decider first (`decide`) and explaining only the matches was measured slower:
   most candidates of real articles match, and then both ran;
4. Hits are cached per query and explanation, as the same few explanations recur.

The result is exactly the naive matcher's (`naive.NaiveMatcher`: every query's evaluator on a
document tokenised by the reference functions), as the property tests check.

Cost per document: a fixed part (splitting the text, looking its words up), plus a small one
per candidate and per match. Measured with bench/match.py on one core at 1,000 watchlists,
about 24 us an article: splitting title and summary about 6 (the regex engine's speed, about
13 ns a character, most of it), key lookups and the analysis object about 5 (hashing each new
word string, and one dict lookup per word), explaining candidates about 7, the rest picking
accepted Hits, candidates and sorting.

Why a regex split and a memo rather than an automaton: measured with bench/key_scan.py
(microseconds an article, title and summary, 1,000 / 100,000 broad watchlists). The matcher's
exact path, `tokenise_fast` and one memo lookup per word, takes 11.7 / 15.6 with the memo
warm (41 / 64 on words never seen before). One raw pass of an automaton over the lower-cased
text, before any check, takes 8.1 / 31.8 with pyahocorasick, 5.0 / 12.1 with ahocorasick_rs,
and 11.6 / 52.8 with Vectorscan (hyperscan, word-bounded patterns), whose 100,000 keys also
take 13 s to compile, over the 10 s budget. ahocorasick_rs's raw pass is the cheapest, but it
returns 34 / 168 hits an article ("mar" in "summary", "rate" in "irate"), and an exact finder
would still check each hit's word boundaries, plural ending, accents and field in Python:
the first of those checks alone (does the hit start a word?) brings it to 7.5 / 22.2, with
the word's end, stem and field still to check. So the memo wins once warm, as it is for the
words news repeats every day, and at 100,000 watchlists finding keys is under 1% of the cost
of an article anyway: the rest is per candidate and per match.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from itertools import chain
from operator import itemgetter
from typing import TypeGuard

from consumers.matching.analysis import DocumentAnalysis
from consumers.matching.evaluate import FIELD_ORDER, Found
from consumers.matching.explain import compile_explainer
from consumers.matching.hits import Document, Hit, hit_of
from consumers.matching.keys import KeyFinder, Lexicon
from consumers.matching.naive import parse_watchlist
from consumers.matching.query import And, Near, Node, Not, Or, Term
from consumers.matching.required import Clause, clause_cost, key_of, required_clauses

# From this many watchlists on, the compiled objects are frozen out of the cycle collector.
FREEZE_FROM = 10_000
# Hits remembered per matcher before it starts over (a few MB); see `Matcher.match`.
HIT_CACHE_LIMIT = 50_000

_Pair = tuple[int, Hit]  # a query's number and its Hit, sorted into config order at the end
_first = itemgetter(0)


class Matcher:
    """Compiled watchlists behind a term index; hits come in config order."""

    def __init__(self, queries: Sequence[tuple[str, Node]]) -> None:
        # One pass per field and the fields its queries read before it: the one-word queries
        # that report this field when it holds their key and none of those earlier fields do.
        passes: dict[tuple[str, tuple[str, ...]], dict[str, list[_Pair]]] = {}
        postings: dict[str, list[int]] = {}
        filed: dict[int, Clause] = {}  # the clause each query is filed under
        always: list[int] = []
        named: set[str] = set()
        fields: set[str] = set()
        for number, (name, node) in enumerate(queries):
            if _one_word(node):
                key = key_of(node.words[0], node.case_sensitive)
                ordered = tuple(field for field in FIELD_ORDER if field in node.fields)
                for position, field in enumerate(ordered):
                    by_key = passes.setdefault((field, ordered[:position]), {})
                    hit = Hit(name, (node.label,), (field,))
                    by_key.setdefault(key, []).append((number, hit))
            else:
                clauses = sorted(set(required_clauses(node)), key=_rank)
                if not clauses:
                    always.append(number)
                else:
                    filed[number] = clauses[0]
                for key in clauses[0] if clauses else ():
                    postings.setdefault(key, []).append(number)
            for term in _terms(node):
                named.update(key_of(word, term.case_sensitive) for word in term.words)
                fields |= term.fields
        self._names = tuple(name for name, _ in queries)
        self._passes = tuple(
            (field, earlier, frozenset(by_key), {k: tuple(v) for k, v in by_key.items()})
            for (field, earlier), by_key in sorted(passes.items())
        )
        # One-word queries are never explained: their Hits are built above.
        self._explainers = tuple(
            _unused if _one_word(node) else compile_explainer(node, filed.get(number, frozenset()))
            for number, (_, node) in enumerate(queries)
        )
        self._postings = {key: tuple(numbers) for key, numbers in postings.items()}
        self._indexed = frozenset(self._postings)
        self._always = tuple(always)
        self._fields = tuple(sorted(fields - {"title", "summary"}))  # title, summary: always
        self._lexicon = Lexicon()
        self._finder = KeyFinder(named, self._lexicon)
        self._hits: dict[tuple[object, ...], Hit] = {}

    @property
    def watchlists(self) -> tuple[str, ...]:
        return self._names

    @property
    def always_evaluated(self) -> int:
        """How many queries have no required word and run for every document."""
        return len(self._always)

    def match(self, doc: Document) -> list[Hit]:
        analysis = self._analyse(doc)
        pairs = self._accepted(analysis)
        explainers, names, cache = self._explainers, self._names, self._hits
        found: Found = []
        for number in self._candidates(analysis):
            if explainers[number](analysis, found):
                key = (number, *found)
                hit = cache.get(key)
                if hit is None:
                    if len(cache) >= HIT_CACHE_LIMIT:
                        cache.clear()
                    hit = cache[key] = hit_of(names[number], found)
                pairs.append((number, hit))
                found = []
        pairs.sort(key=_first)
        return [hit for _, hit in pairs]

    def candidate_count(self, doc: Document) -> int:
        """How many queries the index selects for `doc`, to accept outright or to explain (a
        diagnostic: the matcher's cost per document grows with it)."""
        analysis = self._analyse(doc)
        return len(self._accepted(analysis)) + len(self._candidates(analysis))

    def _analyse(self, doc: Document) -> DocumentAnalysis:
        return DocumentAnalysis(doc, self._lexicon, self._finder, self._fields)

    def _accepted(self, analysis: DocumentAnalysis) -> list[_Pair]:
        """The one-word queries that match, with their Hits: each is filed under its key in
        each of its fields, and found there unless an earlier field of it holds the key."""
        pairs: list[_Pair] = []
        field_keys = analysis.field_keys
        for field, earlier, indexed, by_key in self._passes:
            present = field_keys[field] & indexed
            for other in earlier:
                present -= field_keys[other]
            pairs.extend(chain.from_iterable(map(by_key.__getitem__, present)))
        return pairs

    def _candidates(self, analysis: DocumentAnalysis) -> set[int]:
        candidates = set(self._always)
        postings = self._postings.__getitem__
        candidates.update(chain.from_iterable(map(postings, analysis.keys & self._indexed)))
        return candidates


def _unused(analysis: DocumentAnalysis, found: Found) -> bool:
    raise AssertionError("a one-word query is never a candidate")


def _one_word(node: Node) -> TypeGuard[Term]:
    return isinstance(node, Term) and len(node.words) == 1


def _rank(clause: Clause) -> tuple[float, tuple[str, ...]]:
    return clause_cost(clause), tuple(sorted(clause))  # ties broken by content, not by hashing


def _terms(node: Node) -> Iterator[Term]:
    if isinstance(node, Term):
        yield node
    elif isinstance(node, Near):
        yield node.left
        yield node.right
    elif isinstance(node, Not):
        yield from _terms(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _terms(child)


def compile_watchlists(queries: Sequence[tuple[str, str]]) -> Matcher:
    """Parse and index (name, query) pairs; the first invalid query raises WatchlistError."""
    # Compiling allocates millions of small objects that all live on; the cyclic collector
    # would rescan them again and again (measured: half the time of 100,000 watchlists).
    # None of them form cycles, so it is paused while they are built.
    paused = gc.isenabled()
    gc.disable()
    try:
        matcher = Matcher([(name, parse_watchlist(name, text)) for name, text in queries])
    finally:
        if paused:
            gc.enable()
    if len(queries) >= FREEZE_FROM:
        # Every later full collection would walk the millions of objects of a large matcher
        # (measured: 0.6 s a pass, a 4x slowdown at 100,000 watchlists). Moving them to the
        # permanent generation exempts them from cycle scans; reference counting still frees
        # them when the matcher is replaced, as they form no cycles.
        gc.freeze()
    return matcher
