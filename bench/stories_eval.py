"""Story grouping methods scored on the hand-labelled set: pairwise precision and recall.

Reads tests/data/stories_labels.tsv and the real feeds it names (../shared/realdata/feeds),
groups the entries with each method at each threshold (a 48h window, in time order, as the
service would) and prints one JSON line per method and threshold:

    .venv/bin/python -m bench.stories_eval [--window-hours 48] [--show-errors]

Methods: `link` (same canonical link), `title` (same normalised title), `shingle` (Jaccard of
title word bigrams), `tfidf` (cosine of title and summary-start TF-IDF, names weighted, IDF
from the stream); `keys+shingle` and `keys+tfidf`: link, then title, then the similarity
(`keys+tfidf` is what StoryIndex uses by default). A similarity only pairs articles of
different feeds (a feed's own recurring series look alike), so alone it misses re-posts.
Targets: precision >= 0.95, recall >= 0.85.
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

from consumers.stories import METHODS, group
from consumers.stories.evaluate import pairwise
from tests.support.story_labels import LABELS, labelled_items

SHINGLE_SWEEP = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
TFIDF_SWEEP = (0.2, 0.25, 0.3, 0.33, 0.35, 0.38, 0.4, 0.45, 0.5)
SWEEP = {"shingle": SHINGLE_SWEEP, "keys+shingle": SHINGLE_SWEEP}
SWEEP |= {"tfidf": TFIDF_SWEEP, "keys+tfidf": TFIDF_SWEEP}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window-hours", type=float, default=48.0)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    labelled = labelled_items(LABELS)
    items = [item for item, _ in labelled]
    labels = [label for _, label in labelled]
    window = timedelta(hours=args.window_hours)
    for method in METHODS:
        for threshold in SWEEP.get(method, (None,)):
            grouped = group(items, window, method=method, threshold=threshold)
            score = pairwise(labels, [a.story_id for _, a in grouped])
            line = {
                "method": method,
                "threshold": threshold,
                "precision": round(score.precision, 3),
                "recall": round(score.recall, 3),
                "tp": score.tp,
                "fp": score.fp,
                "fn": score.fn,
                "labelled_pairs": score.tp + score.fn,
                "entries": len(items),
            }
            if args.show_errors:
                line["false_merges"] = [
                    [items[i].title, items[j].title] for i, j in score.false_merges
                ]
                line["misses"] = [[items[i].title, items[j].title] for i, j in score.misses]
            print(json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
