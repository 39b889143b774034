"""The poller's fast path gives exactly the articles of a full feedparser parse, on real feeds.

The poller scans a document (service/prepass.py), asks the store which entry ids are new, and
lets feedparser parse only those entries. For every real capture in ../shared/realdata (news
feeds, and feedparser's own corpus of ill-formed, oddly encoded and entity-laden documents)
and several sets of already seen items, the articles it would publish must equal, field for
field and in order, those of `parse_feed` over the whole document, and the ids it records as
seen must be the document's ids. The scan must also tell most real entries' ids, or the fast
path would silently never be taken.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from service.errors import ParseError
from service.models import Article, FeedRef
from service.parse import ParsedFeed, parse_feed
from service.prepass import Scan, choose, parse_chosen, scan

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
SKIP = {".md", ".json", ".tsv"}
FETCHED = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
MAX_ITEMS = 1000

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not (REALDATA / "feeds").is_dir(),
        reason=f"real feed captures not found at {REALDATA / 'feeds'} (CI places them there)",
    ),
]


@cache
def captures() -> tuple[Path, ...]:
    found = []
    for folder in ("feeds", "feedparser_samples"):
        for p in sorted((REALDATA / folder).rglob("*")):
            if (
                p.is_file()
                and p.suffix not in SKIP
                and not p.name.startswith(("LICENSE", "README"))
            ):
                found.append(p)
    return tuple(found)


def _name(p: Path) -> str:
    return p.relative_to(REALDATA).as_posix()


def _ref(p: Path) -> FeedRef:
    return FeedRef(name=_name(p), url=f"http://127.0.0.1:8080/{_name(p)}")


def _full(p: Path) -> ParsedFeed | None:
    try:
        return parse_feed(p.read_bytes(), feed=_ref(p), fetched_at=FETCHED, max_items=MAX_ITEMS)
    except ParseError:
        return None


def _fast(p: Path, unseen: set[str], *, alerts: bool) -> tuple[list[Article], set[str]] | None:
    """What the poller's fast path reads: (articles that may be new, ids of every item)."""
    scanned: Scan = scan(p.read_bytes(), feed=_ref(p), content_type=None, max_items=MAX_ITEMS)
    if scanned.entries is None:
        return None  # the poller parses it in full
    known = {e.id for e in scanned.entries if e.id is not None}
    chosen = choose(scanned.entries, unseen, alerts=alerts)
    if not chosen:
        return [], known
    parsed = parse_chosen(scanned, chosen, feed=_ref(p), fetched_at=FETCHED, max_items=MAX_ITEMS)
    assert parsed is not None, f"{_name(p)}: the scan's ids disagree with feedparser's"
    return parsed.articles, known | set(parsed.entry_ids)


@pytest.mark.parametrize("path", captures(), ids=_name)
def test_fast_path_publishes_what_a_full_parse_gives(path: Path) -> None:
    full = _full(path)
    if full is None:
        return  # not a feed: the fast path is never reached without entries to read
    ids = [a.id for a in full.articles]
    scenarios = {
        "nothing seen yet": set(ids),
        "every other item new": set(ids[::2]),
        "only the newest item new": set(ids[:1]),
        "nothing new": set(),
    }
    for scenario, unseen in scenarios.items():
        fast = _fast(path, unseen, alerts=True)
        if fast is None:
            return
        articles, seen = fast
        expected = [a for a in full.articles if a.id in unseen]
        got = [a for a in articles if a.id in unseen]  # as the poller filters by the store
        assert got == expected, f"{_name(path)}, {scenario}: articles differ"
        assert seen == set(ids), f"{_name(path)}, {scenario}: seen ids differ"


@pytest.mark.parametrize("path", captures(), ids=_name)
def test_first_poll_without_backfill_records_every_id(path: Path) -> None:
    full = _full(path)
    fast = _fast(path, {a.id for a in full.articles}, alerts=False) if full else None
    if full is None or fast is None:
        return
    assert fast[1] == {a.id for a in full.articles}


def test_the_scan_tells_most_real_entries_ids() -> None:
    """Among the news feeds (not feedparser's edge cases), nearly every id is told."""
    told = total = 0
    for path in captures():
        if not _name(path).startswith("feeds/") or _full(path) is None:
            continue
        scanned = scan(path.read_bytes(), feed=_ref(path), content_type=None, max_items=MAX_ITEMS)
        entries = scanned.entries or []
        told += sum(e.id is not None for e in entries)
        total += len(_full(path).articles)  # type: ignore[union-attr]
    assert total > 1000
    assert told >= 0.9 * total, f"the scan told {told} of {total} entry ids"
