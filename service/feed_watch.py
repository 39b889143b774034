"""The poller's feed-health step: after each poll, apply `feed_health.observe` and `storm`,
then store the feed's new health and the alerts it calls for in one transaction."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

import structlog

from service.feed_health import (
    FeedHealth,
    HealthEvent,
    HealthPolicy,
    PollResult,
    Storm,
    observe,
    storm,
)
from service.metrics import Metrics
from service.models import FeedHealthAlert

log = structlog.get_logger(__name__)


class HealthStore(Protocol):
    async def load(self) -> tuple[dict[str, FeedHealth], Storm]: ...
    async def record(
        self,
        health: FeedHealth,
        storm: Storm,
        alerts: Sequence[tuple[str, bytes]],
        destinations: Sequence[str],
    ) -> None: ...


class FeedHealthMonitor:
    def __init__(
        self,
        store: HealthStore,
        feeds: Sequence[str],
        destinations: Sequence[str],
        policy_of: Callable[[str], HealthPolicy],
        metrics: Metrics,
    ) -> None:
        self._store = store
        self._names = list(feeds)
        self._destinations = list(destinations)
        self._policy_of = policy_of
        self._metrics = metrics
        self._feeds: dict[str, FeedHealth] = {}
        self._storm = Storm()
        self._loaded = False
        # Polls finish concurrently; the storm needs every feed's state, so one at a time.
        self._lock = asyncio.Lock()

    async def observe(self, feed: str, result: PollResult, now: float) -> None:
        async with self._lock:
            await self._observe(feed, result, now)

    async def _observe(self, feed: str, result: PollResult, now: float) -> None:
        if not self._loaded:
            stored, self._storm = await self._store.load()
            self._feeds = {n: stored.get(n, FeedHealth(n)) for n in self._names}
            self._loaded = True
        health, event = observe(
            self._feeds.get(feed, FeedHealth(feed)), result, self._policy_of(feed), now
        )
        self._feeds[feed] = health
        self._storm, events = storm(self._storm, event, self._feeds, now)
        alerts = [health_alert(e) for e in events]
        await self._store.record(
            health,
            self._storm,
            [(a.id, a.model_dump_json().encode()) for a in alerts],
            self._destinations,
        )
        for a in alerts:
            log.warning("feed_health_changed", type=a.type, feed=a.feed, feeds=len(a.feeds))
        counts = Counter(h.status for h in self._feeds.values())
        for state in ("ok", "failing", "stale"):
            self._metrics.feeds_by_health.labels(state).set(counts.get(state, 0))


def health_alert(event: HealthEvent) -> FeedHealthAlert:
    def when(ts: float | None) -> datetime | None:
        return None if ts is None else datetime.fromtimestamp(ts, UTC)

    return FeedHealthAlert(
        id=event.id,
        type=f"newsalert.feed.{event.kind}",
        feed=event.feed or None,
        feeds=list(event.feeds),
        at=datetime.fromtimestamp(event.at, UTC),
        since=when(event.since),
        error=event.error,
        http_status=event.http_status,
        next_retry_at=when(event.next_retry_at),
        downtime_s=None if event.downtime is None else round(event.downtime, 1),
    )
