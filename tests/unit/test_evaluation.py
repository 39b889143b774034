"""Scoring watchlists against labels: the counts, the borderline rule, the file's errors."""

from __future__ import annotations

import pytest

from consumers.evaluation import LabelsError, parse_labels, score

LABELS = (
    "source\ttitle\tchina\tico\n"
    "a.xml\tBeijing cuts rates\t1\t0\n"
    "a.xml\tICO boom\t0\t1\n"
    "a.xml\tChina token sale\t1\t?\n"
    "b.xml\tBakery award\t0\t0\n"
    "\n"
)


def test_counts_false_alarms_and_misses() -> None:
    labels = parse_labels(LABELS)
    matched = [{"china"}, {"china", "ico"}, {"ico"}, set()]
    china, ico = score(labels, matched)
    assert (china.tp, china.fp, china.fn, china.tn) == (1, 1, 1, 1)
    assert china.false_alarms == ["ICO boom"]
    assert china.misses == ["China token sale"]
    assert china.precision == 0.5 and china.recall == 0.5
    # The borderline entry is left out of ico's score, whatever matched.
    assert (ico.tp, ico.fp, ico.fn, ico.tn) == (1, 0, 0, 2)
    assert ico.precision == 1.0 and ico.recall == 1.0


def test_undefined_ratios_are_none() -> None:
    labels = parse_labels("source\ttitle\tx\na\tt\t0\n")
    [x] = score(labels, [set()])
    assert x.precision is None and x.recall is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: the labels file is empty"),
        ("title\tsource\tx\n", "line 1: the header must start with the columns source and title"),
        ("source\ttitle\n", "line 1: the header names no watchlist column"),
        ("source\ttitle\tx\tx\n", "line 1: a watchlist column is named twice"),
        ("source\ttitle\tx\na\tt\n", "line 2: 2 columns, the header has 3"),
        ("source\ttitle\tx\na\tt\t1\na\tu\tyes\n", "line 3: column x holds 'yes'"),
    ],
)
def test_bad_files_name_the_line(text: str, message: str) -> None:
    with pytest.raises(LabelsError, match=message):
        parse_labels(text)
