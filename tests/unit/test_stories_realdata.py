"""Story grouping on the hand-labelled real feeds: pairwise precision >= 0.95, recall >= 0.85."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consumers.stories.evaluate import pairwise
from consumers.stories.index import group
from tests.support.story_labels import LABELS, REALDATA, labelled_items

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is not beside the repo"),
]


def test_grouping_meets_the_targets_on_the_labelled_set() -> None:
    labelled = labelled_items(LABELS)
    decided = group([i for i, _ in labelled], timedelta(hours=48))
    score = pairwise([label for _, label in labelled], [a.story_id for _, a in decided])
    assert score.tp + score.fn >= 50, "the labelled set has at least 50 same-story pairs"
    assert score.precision >= 0.95, score
    assert score.recall >= 0.85, score
