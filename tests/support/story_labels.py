"""The hand-labelled story set (tests/data/stories_labels.tsv) joined to its real feeds.

The labels file names each entry by feed file (relative to the labels file) and title; the
feeds themselves stay in ../shared/realdata and are parsed here with the project's own parser,
the way the poller would see them. The bench and the realdata test share this loader.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from consumers.stories import StoryItem
from service.models import FeedRef
from service.parse import parse_feed

TESTS = Path(__file__).resolve().parents[1]
LABELS = TESTS / "data" / "stories_labels.tsv"
REALDATA = TESTS.parents[1] / "shared" / "realdata"  # beside the checkout, as ../shared/realdata
FETCHED_AT = datetime(2030, 1, 1, tzinfo=UTC)  # after every capture: no date is "future"


def labelled_items(labels: Path = LABELS) -> list[tuple[StoryItem, str]]:
    """Each labelled entry as a StoryItem and its story label.

    The feed is the document's own title: two captures of one feed at different times (the
    CNBC snapshots) are one feed, whose repeated items are its re-posts.
    """
    with labels.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    articles = {}
    for source in dict.fromkeys(row["source"] for row in rows):
        path = (labels.parent / source).resolve()
        feed = FeedRef(name=source, url=f"https://feeds.example/{path.name}")
        parsed = parse_feed(path.read_bytes(), feed=feed, fetched_at=FETCHED_AT)
        for article in parsed.articles:
            articles.setdefault((source, article.title), (article, parsed.title or source))
    out = []
    for row in rows:
        article, feed_title = articles[(row["source"], row["title"])]
        item = StoryItem(
            article_id=article.id,
            feed=feed_title,
            title=article.title,
            summary=article.summary,
            link=article.link,
            at=article.published or article.fetched_at,
        )
        out.append((item, row["story"]))
    return out
