"""Pairwise precision and recall of a grouping against labels (pure).

Every unordered pair of articles is a decision: grouped together or not. Precision is the
share of predicted pairs that the labels also pair; recall the share of labelled pairs that
were predicted. A wrong merge (precision) hides a story; a missed copy (recall) repeats an alert.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import combinations


@dataclass(frozen=True)
class PairScore:
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int
    false_merges: tuple[tuple[int, int], ...]
    misses: tuple[tuple[int, int], ...]


def _pairs(groups: Sequence[Hashable]) -> set[tuple[int, int]]:
    members: defaultdict[Hashable, list[int]] = defaultdict(list)
    for position, group in enumerate(groups):
        members[group].append(position)
    return {pair for group in members.values() for pair in combinations(group, 2)}


def pairwise(labels: Sequence[Hashable], predicted: Sequence[Hashable]) -> PairScore:
    """Score `predicted[i]` (a story id per article) against `labels[i]` (the true story)."""
    if len(labels) != len(predicted):
        raise ValueError("one label and one prediction per article")
    truth, guess = _pairs(labels), _pairs(predicted)
    tp = len(truth & guess)
    return PairScore(
        precision=tp / len(guess) if guess else 1.0,
        recall=tp / len(truth) if truth else 1.0,
        tp=tp,
        fp=len(guess - truth),
        fn=len(truth - guess),
        false_merges=tuple(sorted(guess - truth)),
        misses=tuple(sorted(truth - guess)),
    )
