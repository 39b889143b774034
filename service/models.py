"""Messages that travel between the stages: versioned pydantic models, JSON on the bus."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeedRef(_Message):
    """The feed an article came from, as named in config."""

    name: str
    url: str


class Article(_Message):
    """One feed item, normalised: plain text, canonical link, UTC date or none."""

    version: Literal[1] = 1
    id: str = Field(description="stable hash of the feed's guid, else of the canonical link")
    feed: FeedRef
    title: str
    summary: str
    link: str
    published: datetime | None
    fetched_at: datetime


class WatchlistMatch(_Message):
    """One watchlist that matched, with the query terms that made it match."""

    watchlist: str
    terms: list[str]


class StoryRef(_Message):
    """The story an alert's article belongs to: its id and the feeds that carried it so far.

    `first` is false on a later copy's story update (sent only to destinations that take them).
    """

    id: str
    sources: list[str]
    first: bool = True


class Alert(_Message):
    """One article for one destination, listing every watchlist of that destination it matched."""

    version: Literal[1] = 1
    id: str = Field(description="deterministic: derived from article id and destination")
    destination: str
    article: Article
    matches: list[WatchlistMatch]
    created_at: datetime
    story: StoryRef | None = None  # set by the notifier's story grouping


def article_id(feed_name: str, guid: str) -> str:
    """Stable id of an item: the same guid in the same feed always gives the same id."""
    return _digest(feed_name, guid)


def alert_id(article_id: str, destination: str) -> str:
    """Deterministic alert id, so a redelivered alert can be recognised by every receiver."""
    return _digest(article_id, destination)


def story_update_id(story_id: str, destination: str, article_id: str) -> str:
    """Deterministic id of a later copy's story update, its `webhook-id`."""
    return _digest("story", story_id, destination, article_id)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class DigestWindow(_Message):
    """The stretch of time a digest gathers: alerts held from `start` until `end`."""

    start: datetime
    end: datetime


class Digest(_Message):
    """Held alerts of one destination and window, sent as one message."""

    version: Literal[1] = 1
    id: str = Field(description="deterministic: derived from destination and window")
    destination: str
    window: DigestWindow
    alerts: list[Alert]


class FeedHealthAlert(_Message):
    """A feed started failing, recovered or went stale; `feed` is None when most feeds fail at
    once (or recover), and `feeds` names them."""

    version: Literal[1] = 1
    id: str = Field(description="deterministic per transition")
    type: Literal["newsalert.feed.failing", "newsalert.feed.recovered", "newsalert.feed.stale"]
    feed: str | None
    feeds: list[str] = Field(default_factory=list)
    at: datetime
    since: datetime | None = None
    error: str | None = None
    http_status: int | None = None
    next_retry_at: datetime | None = None
    downtime_s: float | None = None
