"""Near-duplicate scorers over the open stories' articles, each behind an inverted index.

A scorer holds one feature set per stored entry (an int key the index chooses) and, for a new
article, returns the stored entries that share a feature with it and their similarity. Looking
up only the postings of the article's own features keeps the cost proportional to what it
shares with the window, not to the window's size. A feature carried by more than
`max_postings` entries (a word every story uses) is skipped when scoring: it says little, and
walking it would make one article cost as much as the whole window.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Protocol

from consumers.stories.text import shingles, weighted_terms

MAX_POSTINGS = 400


class Scorer(Protocol):
    def add(self, key: int, title: str, summary: str) -> None: ...

    def remove(self, key: int) -> None: ...

    def scores(self, title: str, summary: str) -> dict[int, float]: ...


class ShingleJaccard:
    """Jaccard similarity of the titles' word bigrams (stop words dropped)."""

    def __init__(self, max_postings: int = MAX_POSTINGS) -> None:
        self._max_postings = max_postings
        self._postings: defaultdict[str, set[int]] = defaultdict(set)
        self._sets: dict[int, frozenset[str]] = {}

    def add(self, key: int, title: str, summary: str) -> None:
        features = shingles(title)
        self._sets[key] = features
        for f in features:
            self._postings[f].add(key)

    def remove(self, key: int) -> None:
        for f in self._sets.pop(key, frozenset()):
            posting = self._postings[f]
            posting.discard(key)
            if not posting:
                del self._postings[f]

    def scores(self, title: str, summary: str) -> dict[int, float]:
        features = shingles(title)
        shared: defaultdict[int, int] = defaultdict(int)
        for f in features:
            posting = self._postings.get(f)
            if posting is None or len(posting) > self._max_postings:
                continue
            for key in posting:
                shared[key] += 1
        return {key: n / (len(features) + len(self._sets[key]) - n) for key, n in shared.items()}


class TfIdfCosine:
    """Cosine of TF-IDF vectors of title and summary start, names weighted.

    The document frequencies are those of the entries stored now (the stream itself), so a
    word that every open story uses ("bitcoin" in a crypto feed) weighs little and a name that
    two reports share weighs much. A stored vector keeps the weights of when it was stored.
    """

    def __init__(self, max_postings: int = MAX_POSTINGS) -> None:
        self._max_postings = max_postings
        self._postings: defaultdict[str, set[int]] = defaultdict(set)
        self._vectors: dict[int, dict[str, float]] = {}

    def _idf(self, t: str) -> float:
        posting = self._postings.get(t)
        return math.log((len(self._vectors) + 1) / ((len(posting) if posting else 0) + 1)) + 1.0

    def _vector(self, title: str, summary: str) -> dict[str, float]:
        vector = {t: w * self._idf(t) for t, w in weighted_terms(title, summary).items()}
        norm = math.sqrt(sum(w * w for w in vector.values()))
        return {t: w / norm for t, w in vector.items()} if norm else {}

    def add(self, key: int, title: str, summary: str) -> None:
        vector = self._vector(title, summary)
        self._vectors[key] = vector
        for t in vector:
            self._postings[t].add(key)

    def remove(self, key: int) -> None:
        for t in self._vectors.pop(key, {}):
            posting = self._postings[t]
            posting.discard(key)
            if not posting:
                del self._postings[t]

    def scores(self, title: str, summary: str) -> dict[int, float]:
        dot: defaultdict[int, float] = defaultdict(float)
        for t, w in self._vector(title, summary).items():
            posting = self._postings.get(t)
            if posting is None or len(posting) > self._max_postings:
                continue
            for key in posting:
                dot[key] += w * self._vectors[key][t]
        return dot
