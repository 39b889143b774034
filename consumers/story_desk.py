"""Story grouping at the notifier: one alert per story and destination.

Alerts of one destination meet in one place (the embedded outbox, or in Kafka mode the one
partition their key maps to), so each destination keeps its own `StoryIndex` there. For an
incoming alert the desk decides: the first copy of a story goes out as the alert; a later copy
becomes a story update for a destination that takes updates, and is dropped otherwise.

Every decision is written to a `StoryLog` (SQLite table, or a compacted Kafka topic) before
the alert enters the outbox, and decisions are idempotent per article, so a restart or a
partition hand-over rebuilds the same stories and re-reading an alert decides it the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from consumers.stories.index import StoryIndex, StoryItem
from service.metrics import Metrics
from service.models import Alert, Article, StoryRef, story_update_id
from service.store import StoryItems, StoryRow

log = structlog.get_logger(__name__)

# Expiring old stories is cheap but not free: do it at most this often per destination.
EXPIRE_EVERY = 60.0
# Open stories kept per destination (each holds its articles' keys and term vectors, some
# kilobytes): beyond it the oldest closes before its window ends, so memory stays bounded
# however many alerts a destination gets; a later copy of a closed story alerts again.
MAX_OPEN_STORIES = 5000


@dataclass(frozen=True)
class StoryRecord:
    """One decision as persisted: this article of this destination is in this story."""

    destination: str
    item: StoryItem
    story_id: str


class StoryLog(Protocol):
    async def record(self, record: StoryRecord) -> None: ...


class _NoLog:
    async def record(self, record: StoryRecord) -> None:
        """Nothing to keep: with grouping off no decision is ever looked up again."""


def item_of(article: Article) -> StoryItem:
    return StoryItem(
        article_id=article.id,
        feed=article.feed.name,
        title=article.title,
        summary=article.summary,
        link=article.link,
        at=article.published or article.fetched_at,
    )


class StoryDesk:
    def __init__(
        self,
        window: float,
        max_sources: int,
        log_: StoryLog,
        metrics: Metrics,
        *,
        takes_updates: Collection[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._window = timedelta(seconds=window)
        self._max_sources = max_sources
        self._log = log_
        self._metrics = metrics
        self._takes_updates = frozenset(takes_updates)
        self._clock = clock
        self._indexes: dict[str, StoryIndex] = {}
        self._expired_at: dict[str, float] = {}

    @classmethod
    def ungrouped(cls, metrics: Metrics) -> StoryDesk:
        """A desk with grouping off (`stories.window: 0`): every article is its own story."""
        return cls(0.0, 1, _NoLog(), metrics)

    def _index(self, destination: str) -> StoryIndex:
        index = self._indexes.get(destination)
        if index is None:
            index = self._indexes[destination] = StoryIndex(
                self._window, self._max_sources, max_open=MAX_OPEN_STORIES
            )
        return index

    def restore(self, records: Iterable[StoryRecord]) -> int:
        """Rebuild stories from persisted decisions, in the order they were made."""
        count = 0
        for r in records:
            self._index(r.destination).restore(r.item, r.story_id)
            count += 1
        return count

    def open_stories(self) -> int:
        return sum(len(i) for i in self._indexes.values())

    async def decide(self, alert: Alert) -> Alert | None:
        """The alert to enqueue (stamped with its story), an update, or None (nothing to send)."""
        if self._window <= timedelta(0):
            return alert.model_copy(
                update={"story": StoryRef(id=alert.article.id, sources=[alert.article.feed.name])}
            )
        index = self._index(alert.destination)
        self._expire(alert.destination, index)
        item = item_of(alert.article)
        known = index.story_of(item.article_id) is not None
        decided = index.assign(item)
        if not known:
            await self._log.record(StoryRecord(alert.destination, item, decided.story_id))
            counter = self._metrics.stories_opened if decided.first else self._metrics.story_copies
            counter.labels(item.feed).inc()
        story = StoryRef(id=decided.story_id, sources=list(decided.sources), first=decided.first)
        if decided.first:
            return alert.model_copy(update={"story": story})
        if alert.destination not in self._takes_updates:
            log.info(
                "story_copy_grouped",
                destination=alert.destination,
                story=decided.story_id,
                feed=item.feed,
            )
            return None
        update_id = story_update_id(decided.story_id, alert.destination, item.article_id)
        return alert.model_copy(update={"id": update_id, "story": story})

    def _expire(self, destination: str, index: StoryIndex) -> None:
        now = self._clock()
        if now - self._expired_at.get(destination, 0.0) < EXPIRE_EVERY:
            return
        self._expired_at[destination] = now
        index.expire(datetime.fromtimestamp(now, UTC))


class SqliteStoryLog:
    """The embedded store's story decisions as a `StoryLog`."""

    def __init__(self, items: StoryItems) -> None:
        self._items = items

    async def record(self, record: StoryRecord) -> None:
        i = record.item
        await self._items.record(
            StoryRow(
                destination=record.destination,
                article_id=i.article_id,
                story_id=record.story_id,
                feed=i.feed,
                title=i.title,
                summary=i.summary,
                link=i.link,
                at=i.at,
            )
        )

    async def load(self, recorded_after: float) -> list[StoryRecord]:
        return [
            StoryRecord(
                r.destination,
                StoryItem(r.article_id, r.feed, r.title, r.summary, r.link, r.at),
                r.story_id,
            )
            for r in await self._items.since(recorded_after)
        ]
