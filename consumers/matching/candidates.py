"""Candidate selection: which query parts of a `WatchlistIndex` a document could match (pure).

Two answers per document, both from its key sets (`document.DocumentAnalysis`) with set
operations in C:

- `accepted`: the one-word parts that match outright, with their Hits built at compile time;
  they are never evaluated;
- `candidates`: the other parts filed under a key, or under two keys, the document holds,
  plus those filed under none; the matcher runs their evaluators (`evaluate`).
"""

from __future__ import annotations

from consumers.matching.document import DocumentAnalysis
from consumers.matching.watchlist_index import Pair, WatchlistIndex


def accepted(index: WatchlistIndex, analysis: DocumentAnalysis) -> list[Pair]:
    """The one-word parts that match, with their Hits: each is filed under its key in each of
    its fields, and found there unless an earlier field of it holds the key."""
    pairs: list[Pair] = []
    field_keys = analysis.field_keys
    for field, earlier, indexed, by_key in index.passes:
        # The frozenset's methods take the document's sets as they are (no `-=` one by one),
        # and a loop of extends beats a chain over a map for the few keys found (measured:
        # bench/RESULTS.md).
        present = indexed.intersection(field_keys[field])
        if earlier:
            present = present.difference(*map(field_keys.__getitem__, earlier))
        for key in present:
            pairs.extend(by_key[key])
    return pairs


def candidates(index: WatchlistIndex, analysis: DocumentAnalysis) -> set[int]:
    """Indexes into `index.evaluators` of the parts to evaluate for this document."""
    keys, postings = analysis.keys, index.postings
    found = set(index.always)
    # A loop, not a chain over a map: a document holds few such keys.
    for key in keys & index.indexed:
        found.update(postings[key])
    # Parts needing two keys: per first key held, the second keys held (set operations in C),
    # so no evaluator runs for a document lacking either. Most first keys held have no second
    # key held: a test that builds no set, and a loop rather than a chain over a map for the
    # rest (measured: bench/RESULTS.md).
    paired = index.paired
    for first in keys & index.paired_keys:
        by_second = paired[first]
        if not by_second.keys().isdisjoint(keys):
            for second in by_second.keys() & keys:
                found.update(by_second[second])
    return found
