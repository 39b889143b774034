"""Scoring watchlists against labelled entries: precision, recall, false alarms and misses.

Pure: the labels file's text in, scores out. The labels file is TSV with a header: `source`
(a feed file, relative to the labels file), `title`, then one column per watchlist holding
`1` (should match), `0` (should not) or `?` (borderline: left out of that watchlist's score).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

REQUIRED = ("source", "title")
_VALUES = {"1": True, "0": False, "?": None}


class LabelsError(ValueError):
    """The labels file cannot be read; the message names the line."""


@dataclass(frozen=True)
class LabelledEntry:
    line: int
    source: str
    title: str
    labels: Mapping[str, bool | None]  # watchlist -> expected; None = borderline


@dataclass(frozen=True)
class Labels:
    watchlists: tuple[str, ...]
    entries: tuple[LabelledEntry, ...]


@dataclass
class Score:
    watchlist: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    false_alarms: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        """None when the watchlist matched nothing (precision is undefined)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        """None when no entry should have matched."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


def parse_labels(text: str) -> Labels:
    """Read the TSV; raise LabelsError naming the line of the first problem."""
    rows = list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise LabelsError("line 1: the labels file is empty: it needs a header row")
    header = [cell.strip() for cell in rows[0]]
    if tuple(header[:2]) != REQUIRED:
        raise LabelsError(
            "line 1: the header must start with the columns source and title, "
            "then one column per watchlist"
        )
    watchlists = tuple(header[2:])
    if not watchlists:
        raise LabelsError("line 1: the header names no watchlist column after source and title")
    if len(set(watchlists)) != len(watchlists):
        raise LabelsError("line 1: a watchlist column is named twice")
    entries: list[LabelledEntry] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise LabelsError(f"line {number}: {len(row)} columns, the header has {len(header)}")
        labels: dict[str, bool | None] = {}
        for name, cell in zip(watchlists, row[2:], strict=True):
            value = cell.strip()
            if value not in _VALUES:
                raise LabelsError(
                    f"line {number}: column {name} holds {value!r}: use 1, 0 or ? (borderline)"
                )
            labels[name] = _VALUES[value]
        entries.append(LabelledEntry(number, row[0].strip(), row[1].strip(), labels))
    return Labels(watchlists, tuple(entries))


def score(
    labels: Labels, matched: Sequence[Iterable[str]], watchlists: Sequence[str] | None = None
) -> list[Score]:
    """Score each watchlist: `matched[i]` holds the watchlists entry i of `labels` matched."""
    names = list(watchlists) if watchlists is not None else list(labels.watchlists)
    scores = {name: Score(name) for name in names}
    for entry, hits in zip(labels.entries, matched, strict=True):
        found = set(hits)
        for name in names:
            expected = entry.labels.get(name)
            if expected is None:
                continue
            s = scores[name]
            if name in found and expected:
                s.tp += 1
            elif name in found:
                s.fp += 1
                s.false_alarms.append(entry.title)
            elif expected:
                s.fn += 1
                s.misses.append(entry.title)
            else:
                s.tn += 1
    return [scores[name] for name in names]
