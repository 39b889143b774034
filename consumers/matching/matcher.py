"""The indexed matcher: evaluate only the queries a document could match (pure, no I/O).

Like Lucene Monitor and the Elasticsearch percolator, each compiled query is filed under the
keys one of which any matching document must contain (`required`): its cheapest clause. For
a document we collect the keys it holds (its word stems, the indexed wildcard prefixes its
words start with, the indexed unspaced substrings its runs contain), gather the queries filed
under them plus those with no requirement, drop the ones whose other clauses the document
cannot satisfy (a set test per clause), and run the rest with the ordinary evaluators. The
result is exactly the naive matcher's (`naive.NaiveMatcher`), as the property tests check.

Why a pure-Python index rather than an automaton (pyahocorasick, ahocorasick_rs, Vectorscan):
query terms are whole words after folding and stemming, so candidate selection is a handful
of dict and set lookups per distinct document word, all in C. An automaton would have to
scan raw text for every term's surface forms and still map hits back to word boundaries,
stems and fields; measured on the real feeds, splitting and folding the text already costs
more than the lookups (bench/match.py prints the figures).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from consumers.matching.analysis import DocumentAnalysis, Lexicon
from consumers.matching.evaluate import Evaluator, Found, compile_query
from consumers.matching.hits import Document, Hit, hit_of
from consumers.matching.naive import parse_watchlist
from consumers.matching.query import And, Near, Node, Not, Or, Term
from consumers.matching.required import Clause, clause_cost, required_clauses
from consumers.matching.text import is_unspaced

# Clauses besides the indexed one kept as filters. Each is one C-level set test; past a few,
# a candidate that survived them is about to be evaluated anyway.
MAX_FILTERS = 3
# From this many watchlists on, the compiled objects are frozen out of the cycle collector.
FREEZE_FROM = 10_000
_PREFIX_MARK = "*"
_SUBSTRING_MARK = "~"
_CASE_MARK = "`"


@dataclass(frozen=True, slots=True)
class _Query:
    name: str
    evaluator: Evaluator
    filters: tuple[Clause, ...]


class Matcher:
    """Compiled watchlists behind a term index; hits come in config order."""

    def __init__(self, queries: Sequence[tuple[str, Node]]) -> None:
        postings: dict[str, list[int]] = {}
        always: list[int] = []
        compiled: list[_Query] = []
        keys: set[str] = set()
        fields: set[str] = set()
        for number, (name, node) in enumerate(queries):
            clauses = sorted(set(required_clauses(node)), key=_rank)
            compiled.append(_Query(name, compile_query(node), tuple(clauses[1 : 1 + MAX_FILTERS])))
            if not clauses:
                always.append(number)
            for key in clauses[0] if clauses else ():
                postings.setdefault(key, []).append(number)
            for clause in clauses[: 1 + MAX_FILTERS]:
                keys |= clause
            fields |= {field for term in _terms(node) for field in term.fields}
        self._queries = tuple(compiled)
        self._postings = {key: tuple(numbers) for key, numbers in postings.items()}
        self._indexed = frozenset(self._postings)
        self._always = frozenset(always)
        self._fields = tuple(sorted(fields))
        self._lexicon = Lexicon()
        self._folded = _KeyKinds([key for key in keys if not key.startswith(_CASE_MARK)])
        self._exact = _KeyKinds([key[1:] for key in keys if key.startswith(_CASE_MARK)])

    @property
    def watchlists(self) -> tuple[str, ...]:
        return tuple(query.name for query in self._queries)

    @property
    def always_evaluated(self) -> int:
        """How many queries have no required word and run for every document."""
        return len(self._always)

    def match(self, doc: Document) -> list[Hit]:
        analysis = DocumentAnalysis(doc.texts(), self._lexicon)
        present = self._present(analysis)
        candidates = set(self._always)
        postings = self._postings
        for key in present & self._indexed:
            candidates.update(postings[key])
        hits = []
        queries = self._queries
        for number in sorted(candidates):
            query = queries[number]
            for clause in query.filters:
                if present.isdisjoint(clause):
                    break
            else:
                found: Found = []
                if query.evaluator.evaluate(analysis, found):
                    hits.append(hit_of(query.name, found))
        return hits

    def _present(self, analysis: DocumentAnalysis) -> set[str]:
        """The index keys the document holds, in any field that some query reads."""
        present: set[str] = set()
        for case_sensitive, kinds in ((False, self._folded), (True, self._exact)):
            if not kinds.any:
                continue
            mark = _CASE_MARK if case_sensitive else ""
            for field in self._fields:
                forms = analysis.forms(field, case_sensitive)
                if not forms:
                    continue
                stems = analysis.stems(field, case_sensitive)
                if case_sensitive:
                    present.update(mark + stem for stem in stems)
                else:
                    present.update(stems)
                if kinds.prefixes:
                    kinds.add_prefixes(present, set(forms).union(stems), mark)
                if kinds.substrings:
                    kinds.add_substrings(present, set(forms), mark)
        return present


class _KeyKinds:
    """Wildcard prefixes and unspaced substrings that some clause holds, in one case mode."""

    __slots__ = ("any", "heads", "lengths", "prefixes", "substrings")

    def __init__(self, keys: Sequence[str]) -> None:
        self.any = bool(keys)
        self.prefixes = frozenset(k[1:] for k in keys if k.startswith(_PREFIX_MARK))
        self.substrings = frozenset(k[1:] for k in keys if k.startswith(_SUBSTRING_MARK))
        # Every leading part of every prefix, so the walk along a word stops at the first miss.
        self.heads = frozenset(p[:i] for p in self.prefixes for i in range(1, len(p) + 1))
        self.lengths = tuple(sorted({len(s) for s in self.substrings}))

    def add_prefixes(self, present: set[str], words: set[str], mark: str) -> None:
        heads, prefixes = self.heads, self.prefixes
        for word in words:
            for end in range(1, len(word) + 1):
                head = word[:end]
                if head not in heads:
                    break
                if head in prefixes:
                    present.add(mark + _PREFIX_MARK + head)

    def add_substrings(self, present: set[str], forms: set[str], mark: str) -> None:
        substrings = self.substrings
        for form in forms:
            if not is_unspaced(form):
                continue
            for length in self.lengths:
                for start in range(len(form) - length + 1):
                    piece = form[start : start + length]
                    if piece in substrings:
                        present.add(mark + _SUBSTRING_MARK + piece)


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
