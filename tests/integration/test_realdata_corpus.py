"""parse_feed over feeds and attacks captured by other people (../shared/realdata, read-only)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.errors import ParseError
from service.models import FeedRef
from service.parse import ParsedFeed, parse_feed

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
FEED_SUFFIXES = {".xml", ".rss", ".atom"}
FETCHED = datetime(2026, 6, 1, tzinfo=UTC)
# A tag left in a title: "<b", "</h1", "<!--"; "1 < 2" is fine.
TAG = re.compile(r"<[A-Za-z/!?]")

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real-world feeds not present at {REALDATA}"),
]


def corpus(*folders: str) -> list[Path]:
    if not REALDATA.is_dir():
        return []
    return sorted(
        path
        for folder in folders
        for path in (REALDATA / folder).rglob("*")
        if path.is_file() and path.suffix in FEED_SUFFIXES
    )


def simulated_content_types() -> dict[str, str]:
    """feedparser's own samples note the Content-Type their expectation assumes."""
    index = REALDATA / "feedparser_samples" / "INDEX.tsv"
    if not index.is_file():
        return {}
    types = {}
    for line in index.read_text(encoding="utf-8").splitlines()[1:]:
        name, _, _, headers = ([*line.split("\t"), "", "", ""])[:4]
        for header in headers.split("|"):
            key, _, value = header.partition(":")
            if key.strip().lower() == "content-type":
                types[name] = value.strip()
    return types


def parse(path: Path, content_type: str | None = None) -> ParsedFeed:
    feed = FeedRef(name=path.stem, url="https://feeds.example.com/" + path.name)
    return parse_feed(path.read_bytes(), feed=feed, fetched_at=FETCHED, content_type=content_type)


def relative(path: Path) -> str:
    return str(path.relative_to(REALDATA))


@pytest.mark.parametrize("path", corpus("feeds", "feedparser_samples"), ids=relative)
def test_every_captured_feed_parses_cleanly_or_is_refused(path: Path) -> None:
    samples = REALDATA / "feedparser_samples"
    name = str(path.relative_to(samples)) if path.is_relative_to(samples) else ""
    try:
        parsed = parse(path, simulated_content_types().get(name))
    except ParseError as refused:
        assert str(refused).strip()
        return
    ids = [article.id for article in parsed.articles]
    assert len(ids) == len(set(ids)), "article ids repeat within one feed"
    for article in parsed.articles:
        assert article.title
        assert not TAG.search(article.title), article.title
        assert not TAG.search(parsed.title), parsed.title
        assert article.link == "" or article.link.startswith(("http://", "https://"))
        assert article.published is None or article.published.tzinfo is not None


def test_real_news_feeds_yield_articles() -> None:
    """Not everything may be refused: the captured news feeds are all usable."""
    feeds = corpus("feeds")
    assert feeds
    refused = []
    for path in feeds:
        try:
            if not parse(path).articles:
                refused.append(relative(path))
        except ParseError:
            refused.append(relative(path))
    assert refused == []


def test_coindesk_summaries_survive_the_empty_dc_description() -> None:
    path = REALDATA / "feeds" / "syspulse_skel-ext3" / "coindesk.rss"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    articles = parse(path).articles
    assert articles
    assert all(article.summary for article in articles)


@pytest.mark.parametrize("path", corpus("hostile"), ids=relative)
def test_hostile_documents_finish_quickly_and_expand_nothing(path: Path) -> None:
    size = path.stat().st_size
    started = time.perf_counter()
    try:
        parsed = parse(path)
    except ParseError as refused:
        assert str(refused).strip()
        parsed = ParsedFeed(title="", articles=[])
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, f"{relative(path)} took {elapsed:.1f} s"
    text = parsed.title + "".join(a.title + a.summary + a.link for a in parsed.articles)
    assert len(text) < 10 * size
    for expansion in ("lollollollol", "BBBBBBBBBBBBBBBB", "1234567890123456789"):
        assert expansion not in text
