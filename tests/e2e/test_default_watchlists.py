"""The default watchlists, scored by `newsalert eval` on the hand-labelled real feeds.

The labels (tests/data/watchlist_labels.tsv) were made by reading each entry; the feeds are
read from ../shared/realdata at test time. The goal is precision and recall of at least 0.95
for each of china, ico and fed-cuts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
LABELS = ROOT / "tests" / "data" / "watchlist_labels.tsv"
REALDATA = ROOT.parent / "shared" / "realdata" / "feeds"
GOAL = 0.95

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is not beside the repo"),
]


def test_default_watchlists_reach_the_goal_on_the_labelled_feeds() -> None:
    result = run_cli("eval", "--json", "-c", str(ROOT / "config" / "newsalert.yaml"), str(LABELS))
    assert result.returncode == 0, result.stderr
    scores = {s["watchlist"]: s for s in map(json.loads, result.stdout.splitlines())}
    assert set(scores) == {"china", "ico", "fed-cuts"}
    for name, s in scores.items():
        assert s["tp"] >= 5, f"{name}: too few positives to score"
        assert s["precision"] >= GOAL, f"{name}: false alarms {s['false_alarms']}"
        assert s["recall"] >= GOAL, f"{name}: misses {s['misses']}"
