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
# A stored vector's lightest terms are not filed while their norm stays at most this share of
# the threshold: more left out means shorter postings to walk but more candidates to check.
UNFILED_SHARE = 0.75


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

    Built for a threshold `at_least`, it files a stored vector only under its heavier terms:
    its lightest terms (the common words, with the longest postings) are left out while their
    norm, the vector's `rest`, stays at most UNFILED_SHARE of the threshold. An article that
    shares with an entry nothing but those terms adds at most `rest` to the cosine
    (Cauchy-Schwarz, both vectors of norm 1), so every entry that may reach the threshold
    shares a filed term with it; one whose partial sum over the filed terms plus its `rest`
    stays below the threshold cannot reach it either. The remaining few are scored over every
    term in the article's order: the same sums, to the last bit, as walking every posting.
    """

    def __init__(self, max_postings: int = MAX_POSTINGS, at_least: float = 0.0) -> None:
        self._max_postings = max_postings
        self._at_least = max(0.0, at_least)
        self._budget = self._at_least * UNFILED_SHARE
        self._df: dict[str, int] = {}  # term -> stored entries holding it
        # Filed term -> (entries, their weights), entries ascending (keys grow as they come).
        self._postings: dict[str, tuple[list[int], list[float]]] = {}
        self._vectors: dict[int, tuple[dict[str, float], float]] = {}  # key -> (vector, rest)
        # The last article's vector, valid until the next add or remove changes the IDF:
        # `add` right after `scores` of the same article reuses it.
        self._changes = 0
        self._last: tuple[str, str, int, dict[str, float]] | None = None

    def __len__(self) -> int:
        """Distinct terms held."""
        return len(self._df)

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
        df = self._df
        vector = {}
        for t, w in weighted_terms(title, summary).items():
            vector[sys.intern(t)] = w * (math.log(n / (df.get(t, 0) + 1)) + 1.0)
        norm = math.sqrt(sum(w * w for w in vector.values()))
        unit = {t: w / norm for t, w in vector.items()} if norm else {}
        self._last = (title, summary, self._changes, unit)
        return unit

    def add(self, key: int, title: str, summary: str) -> None:
        vector = self._vector(title, summary)
        self._changes += 1
        square = 0.0
        unfiled = set()
        for t, w in sorted(vector.items(), key=lambda tw: tw[1]):
            if math.sqrt(square + w * w) > self._budget:
                break
            square += w * w
            unfiled.add(t)
        self._vectors[key] = (vector, math.sqrt(square))
        df, postings = self._df, self._postings
        for t, w in vector.items():
            df[t] = df.get(t, 0) + 1
            if t in unfiled:
                continue
            posting = postings.get(t)
            if posting is None:
                postings[t] = ([key], [w])
            elif posting[0][-1] < key:
                posting[0].append(key)
                posting[1].append(w)
            else:
                at = bisect.bisect_left(posting[0], key)
                posting[0].insert(at, key)
                posting[1].insert(at, w)

    def remove(self, key: int) -> None:
        stored = self._vectors.pop(key, None)
        if stored is None:
            return
        self._changes += 1
        df, postings = self._df, self._postings
        for t in stored[0]:
            if df[t] == 1:
                del df[t]
            else:
                df[t] -= 1
            posting = postings.get(t)
            if posting is None:
                continue
            keys, weights = posting
            at = bisect.bisect_left(keys, key)
            if at < len(keys) and keys[at] == key:
                if len(keys) == 1:
                    del postings[t]
                else:
                    del keys[at], weights[at]

    def scores(self, title: str, summary: str, at_least: float = 0.0) -> dict[int, float]:
        query = self._vector(title, summary)
        df, limit = self._df, self._max_postings
        # The terms the cosine counts: held by 1 to `max_postings` entries, in the article's order.
        counted = [(t, w) for t, w in query.items() if 0 < df.get(t, 0) <= limit]
        vectors = self._vectors
        if at_least < self._at_least:  # lower than filed for: every entry is a candidate
            candidates = {key: 0.0 for key in vectors}
            floor = -math.inf
        else:
            candidates = defaultdict(float)
            postings = self._postings
            for t, w in counted:
                posting = postings.get(t)
                if posting is not None:
                    for key, d in zip(*posting, strict=True):
                        candidates[key] += w * d
            floor = at_least - EPSILON
        exact: dict[int, float] = {}
        low = floor - self._budget  # no rest is larger than the budget: a first, cheap cut
        for key in [key for key, partial in candidates.items() if partial >= low]:
            vector, rest = vectors[key]
            if candidates[key] + rest < floor:
                continue
            dot = 0.0
            for t, w in counted:
                weight = vector.get(t)
                if weight is not None:
                    dot += w * weight
            if dot:  # shares a counted term, as every entry the full walk would score
                exact[key] = dot
        return exact
