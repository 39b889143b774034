"""Alerts, digests and feed health alerts to render and send in destination tests."""

from __future__ import annotations

from datetime import UTC, datetime

from service.models import (
    Alert,
    Article,
    Digest,
    DigestWindow,
    FeedHealthAlert,
    FeedRef,
    StoryRef,
    WatchlistMatch,
)

HOSTILE_TITLE = (
    '<b>Beijing</b> & "yuan" @everyone <!channel> [click](http://evil.example)\n'
    "*bold* _it_ `code` </a> &amp; &bogus; 中国 🚀"
)


def make_alert(
    title: str = "Beijing weighs yuan move",
    *,
    summary: str = "The PBoC & Chinese banks <quietly> adjust.",
    link: str = "https://example.com/yuan",
    feed: str = "reuters",
    index: int = 1,
    watchlists: tuple[str, ...] = ("china", "pboc"),
    sources: tuple[str, ...] = (),
) -> Alert:
    article = Article(
        id=f"article-{index}",
        feed=FeedRef(name=feed, url="https://example.com/feed"),
        title=title,
        summary=summary,
        link=link,
        published=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        fetched_at=datetime(2024, 5, 1, 12, 31, tzinfo=UTC),
    )
    return Alert(
        id=f"alert-{index:04d}",
        destination="markets",
        article=article,
        matches=[WatchlistMatch(watchlist=w, terms=[w.upper()]) for w in watchlists],
        created_at=datetime(2024, 5, 1, 12, 32, tzinfo=UTC),
        story=StoryRef(id=f"story-{index}", sources=[feed, *sources]) if sources else None,
    )


def make_digest(alerts: list[Alert]) -> Digest:
    return Digest(
        id="digest-1",
        destination="markets",
        window=DigestWindow(
            start=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            end=datetime(2024, 5, 1, 13, 0, tzinfo=UTC),
        ),
        alerts=alerts,
    )


def many_alerts(count: int, title: str = "Story number {i} about the yuan") -> list[Alert]:
    return [
        make_alert(
            title.format(i=i),
            link=f"https://example.com/s/{i}",
            index=i,
            watchlists=("china",) if i % 2 else ("ico",),
            sources=("ap", "afp"),
        )
        for i in range(count)
    ]


def make_health(kind: str = "failing", feed: str | None = "wire") -> FeedHealthAlert:
    return FeedHealthAlert(
        id=f"health-{kind}",
        type=f"newsalert.feed.{kind}",  # type: ignore[arg-type]
        feed=feed,
        feeds=[] if feed else ["a", "b", "c"],
        at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        error="connection refused" if kind == "failing" else None,
        http_status=503 if kind == "failing" else None,
        downtime_s=600.0 if kind == "recovered" else None,
        since=datetime(2024, 4, 30, 12, 0, tzinfo=UTC) if kind == "stale" else None,
    )
