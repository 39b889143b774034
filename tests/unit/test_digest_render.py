"""Digest rendering: Slack within Block Kit limits grouped by watchlist, webhook body, console."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from consumers.destinations.digest_render import (
    format_console_digest,
    render_slack_digest,
    render_webhook_digest,
)
from consumers.destinations.slack import MAX_BLOCKS, SECTION_MAX
from service.models import Alert, Article, Digest, DigestWindow, FeedRef, WatchlistMatch

T = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def alert(n: int, watchlist: str, title: str | None = None) -> Alert:
    article = Article(
        id=f"a{n}",
        feed=FeedRef(name="wire", url="https://example.org/rss"),
        title=title if title is not None else f"Story number {n} <b>&",
        summary="",
        link=f"https://example.org/story/{n}",
        published=T,
        fetched_at=T,
    )
    return Alert(
        id=f"al{n}",
        destination="markets",
        article=article,
        matches=[WatchlistMatch(watchlist=watchlist, terms=["x"])],
        created_at=T,
    )


def digest(alerts: list[Alert]) -> Digest:
    return Digest(
        id="d1",
        destination="markets",
        window=DigestWindow(start=T, end=T.replace(hour=9)),
        alerts=alerts,
    )


def shown_titles(payload: dict[str, object]) -> int:
    blocks = payload["blocks"]
    assert isinstance(blocks, list)
    return sum(b["text"]["text"].count("• <") for b in blocks if b["type"] == "section")


def test_grouped_by_watchlist_each_title_linked() -> None:
    payload = render_slack_digest(digest([alert(1, "china"), alert(2, "fed"), alert(3, "china")]))
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert sections[0].startswith("*china* (2)")
    assert "<https://example.org/story/1|Story number 1 &lt;b&gt;&amp;>" in sections[0]
    assert "<https://example.org/story/3|" in sections[0]
    assert sections[1].startswith("*fed* (1)")
    assert payload["blocks"][0]["text"]["text"].startswith("Digest: 3 alerts")
    assert not any(b["type"] == "context" for b in payload["blocks"])


@pytest.mark.parametrize(("count", "title_len"), [(50, 20), (500, 20), (2000, 280), (60, 2500)])
def test_slack_limits_and_more(count: int, title_len: int) -> None:
    alerts = [alert(i, f"wl{i % 7}", "t" * title_len) for i in range(count)]
    payload = render_slack_digest(digest(alerts))
    blocks = payload["blocks"]
    assert len(blocks) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= SECTION_MAX for b in blocks if b["type"] == "section")
    shown = shown_titles(payload)
    more = [b for b in blocks if b["type"] == "context"]
    if shown < count:
        assert more[0]["elements"][0]["text"] == f"+{count - shown} more"
    else:
        assert not more


def test_webhook_digest_body() -> None:
    body = json.loads(render_webhook_digest(digest([alert(1, "china")]), 1780300800))
    assert body["type"] == "newsalert.digest"
    assert set(body["data"]) == {"destination", "window", "alerts"}
    assert body["data"]["window"] == {
        "start": "2026-06-01T08:00:00Z",
        "end": "2026-06-01T09:00:00Z",
    }
    assert body["data"]["alerts"][0]["id"] == "al1"


def test_console_digest_block() -> None:
    text = format_console_digest(digest([alert(1, "china"), alert(2, "fed")]))
    lines = text.splitlines()
    assert lines[0].startswith("digest for markets: 2 alerts")
    assert len(lines) == 3
    assert all(line.startswith("  2026-06-01 08:00 UTC [") for line in lines[1:])
