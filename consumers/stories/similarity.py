"""Near-duplicate scorers over the open stories' articles, each behind an inverted index.

A scorer holds one feature set per stored entry (an int key the index chooses) and, for a new
article, returns the stored entries that share a feature with it and their similarity. Looking
up only the postings of the article's own features keeps the cost proportional to what it
shares with the window, not to the window's size. A feature carried by more than
`max_postings` entries (a word every story uses) is skipped when scoring: it says little, and
walking it would make one article cost as much as the whole window.
"""

from __future__ import annotations

import bisect
import math
import sys
from collections import defaultdict
from typing import Protocol

from consumers.stories.text import shingles, weighted_terms

MAX_POSTINGS = 400
# Slack for rounding when a bound is compared with a threshold: never prune what may reach it.
EPSILON = 1e-9


class Scorer(Protocol):
    def __len__(self) -> int: ...

    def add(self, key: int, title: str, summary: str) -> None: ...

    def remove(self, key: int) -> None: ...

    def scores(self, title: str, summary: str, at_least: float = 0.0) -> dict[int, float]: ...


class ShingleJaccard:
    """Jaccard similarity of the titles' word bigrams (stop words dropped)."""

    def __init__(self, max_postings: int = MAX_POSTINGS) -> None:
        self._max_postings = max_postings
        self._postings: defaultdict[str, set[int]] = defaultdict(set)
        self._sets: dict[int, frozenset[str]] = {}

    def __len__(self) -> int:
        """Distinct shingles held."""
        return len(self._postings)

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

    def scores(self, title: str, summary: str, at_least: float = 0.0) -> dict[int, float]:
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

    `scores(..., at_least=t)` returns every entry whose cosine may reach `t`, with its exact
    cosine (others may be left out): the article's lightest terms with the longest postings
    are not walked as long as what they could add to any entry's cosine stays below `t` (the
    smaller of Cauchy-Schwarz on their weights and the sum of their weights times the largest
    weight stored for each), so an entry sharing only those cannot reach `t`. An entry found
    through the other terms is kept when its partial sum plus that bound may reach `t`, then
    scored over every term in the article's order, the same sum as walking every posting.
    """

    def __init__(self, max_postings: int = MAX_POSTINGS) -> None:
        self._max_postings = max_postings
        # Term -> entries holding it, ascending (entries are added with growing keys).
        self._postings: dict[str, list[int]] = {}
        self._vectors: dict[int, dict[str, float]] = {}
        # Term -> at least the largest weight any stored entry gives it (never lowered while
        # the term is held: a bound, cheap to keep).
        self._ceiling: dict[str, float] = {}
        # The last article's vector, valid until the next add or remove changes the IDF:
        # `add` right after `scores` of the same article reuses it.
        self._changes = 0
        self._last: tuple[str, str, int, dict[str, float]] | None = None

    def __len__(self) -> int:
        """Distinct terms held (memory: each has a posting)."""
        return len(self._postings)

    def _vector(self, title: str, summary: str) -> dict[str, float]:
        last = self._last
        if (
            last is not None
            and last[2] == self._changes
            and last[0] == title
            and last[1] == summary
        ):
            return last[3]
        n = len(self._vectors) + 1
        postings = self._postings
        vector = {}
        for t, w in weighted_terms(title, summary).items():
            posting = postings.get(t)
            vector[sys.intern(t)] = w * (math.log(n / ((len(posting) if posting else 0) + 1)) + 1.0)
        norm = math.sqrt(sum(w * w for w in vector.values()))
        unit = {t: w / norm for t, w in vector.items()} if norm else {}
        self._last = (title, summary, self._changes, unit)
        return unit

    def add(self, key: int, title: str, summary: str) -> None:
        vector = self._vector(title, summary)
        self._changes += 1
        self._vectors[key] = vector
        ceiling = self._ceiling
        for t, w in vector.items():
            posting = self._postings.get(t)
            if posting is None:
                self._postings[t] = [key]
                ceiling[t] = w
                continue
            if posting[-1] < key:
                posting.append(key)
            else:
                bisect.insort(posting, key)
            if w > ceiling[t]:
                ceiling[t] = w

    def remove(self, key: int) -> None:
        vector = self._vectors.pop(key, None)
        if vector is None:
            return
        self._changes += 1
        for t in vector:
            posting = self._postings[t]
            if len(posting) == 1:
                del self._postings[t]
                del self._ceiling[t]
                continue
            at = bisect.bisect_left(posting, key)
            del posting[at]

    def scores(self, title: str, summary: str, at_least: float = 0.0) -> dict[int, float]:
        query = self._vector(title, summary)
        walk = []
        for t, w in query.items():
            posting = self._postings.get(t)
            if posting is not None and len(posting) <= self._max_postings:
                walk.append((t, w, posting))
        skipped: set[str] = set()
        square = linear = bound = 0.0
        floor = at_least - EPSILON
        if floor > 0:
            for t, w, _ in sorted(walk, key=lambda x: -len(x[2])):
                next_square = square + w * w
                next_linear = linear + w * self._ceiling[t]
                if min(math.sqrt(next_square), next_linear) >= floor:
                    break
                square, linear = next_square, next_linear
                skipped.add(t)
            bound = min(math.sqrt(square), linear)
        vectors = self._vectors
        partial: defaultdict[int, float] = defaultdict(float)
        for t, w, posting in walk:
            if t in skipped:
                continue
            for key in posting:
                partial[key] += w * vectors[key][t]
        if not skipped:
            return partial  # every posting walked, in the article's order: the exact sums
        exact: dict[int, float] = {}
        for key, part in partial.items():
            if part + bound < floor:
                continue
            vector = vectors[key]
            dot = 0.0
            for t, w, _ in walk:
                d = vector.get(t)
                if d is not None:
                    dot += w * d
            exact[key] = dot
        return exact
