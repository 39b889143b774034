"""The straightforward matcher: every query against every document (pure, no I/O).

It is the reference the indexed `Matcher` must agree with exactly (see the property tests and
bench/match.py's speedup figure): it tokenises with `text.tokenise` and evaluates every
compiled query in config order.
"""

from __future__ import annotations

from collections.abc import Sequence

from consumers.matching.errors import QuerySyntaxError, WatchlistError
from consumers.matching.evaluate import Evaluator, Found, compile_query
from consumers.matching.hits import Document, Hit, hit_of
from consumers.matching.index import DocumentIndex
from consumers.matching.query import Node, parse_query


class NaiveMatcher:
    """Compiled watchlists, each evaluated for each document, in config order."""

    def __init__(self, compiled: Sequence[tuple[str, Evaluator]]) -> None:
        self._compiled = tuple(compiled)

    @property
    def watchlists(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self._compiled)

    def match(self, doc: Document) -> list[Hit]:
        index = DocumentIndex(doc.texts())
        hits = []
        for name, evaluator in self._compiled:
            found: Found = []
            if evaluator.evaluate(index, found):
                hits.append(hit_of(name, found))
        return hits


def compile_naive(queries: Sequence[tuple[str, str]]) -> NaiveMatcher:
    """Parse and compile (name, query) pairs; the first invalid query raises WatchlistError."""
    return NaiveMatcher(
        [(name, compile_query(parse_watchlist(name, text))) for name, text in queries]
    )


def parse_watchlist(name: str, text: str) -> Node:
    """parse_query, with the error naming the watchlist."""
    try:
        return parse_query(text)
    except QuerySyntaxError as error:
        raise WatchlistError(name, error.column, error.message) from error
