"""Feed health: when a feed starts failing, recovers, or goes stale. Pure: state, a poll's outcome
and `now` in; the new state and the events to alert on out.

One event per transition, never one per failed poll: a feed is *failing* after `failing_after`
failures in a row or after `failing_for` seconds of failures, whichever comes first; it
*recovers* at its next success (the event gives the downtime, from the first failure of the
streak); it is *stale* when `stale_after` passes without a new item (checked at each successful
poll), and fresh again, silently, at its next new item.

When most feeds fail at once the cause is almost never the feeds (our network, DNS, a proxy), so
`storm` turns the would-be flood into one "feeds failing" event: a feed crossing the failing
threshold while more than half of all feeds (at least `STORM_MIN_FEEDS`) are failing their polls
opens the storm; individual failing and recovered events are silent during it; one "feeds
recovered" event closes it when at most half are still failing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

Status = Literal["ok", "failing", "stale"]
EventKind = Literal["failing", "recovered", "stale"]

# Fewer feeds than this never make a storm: two feeds of three failing is not "most feeds".
STORM_MIN_FEEDS = 4


@dataclass(frozen=True)
class HealthPolicy:
    failing_after: int = 3
    failing_for: float = 1800.0
    stale_after: float | None = None


@dataclass(frozen=True)
class FeedHealth:
    """What is kept per feed between polls (and across restarts)."""

    feed: str
    status: Status = "ok"
    failing_since: float | None = None  # first failure of the current streak
    failures: int = 0
    last_new_at: float | None = None  # when a poll last found a new item (or the first success)


@dataclass(frozen=True)
class PollResult:
    ok: bool
    new_items: int = 0
    error: str | None = None
    http_status: int | None = None
    next_poll_at: float | None = None


@dataclass(frozen=True)
class HealthEvent:
    """One transition to alert on. `feeds` is set (and `feed` empty) for the storm events."""

    kind: EventKind
    feed: str
    at: float
    since: float | None = None
    error: str | None = None
    http_status: int | None = None
    next_retry_at: float | None = None
    downtime: float | None = None
    feeds: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """Deterministic per transition, so a receiver can drop a repeat."""
        key = (
            f"{self.kind}\x1f{self.feed}\x1f{','.join(self.feeds)}\x1f{self.since!r}\x1f{self.at!r}"
        )
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def observe(
    health: FeedHealth, result: PollResult, policy: HealthPolicy, now: float
) -> tuple[FeedHealth, HealthEvent | None]:
    """The feed's next health state after one poll, and the transition it made, if any."""
    if not result.ok:
        since = health.failing_since if health.failing_since is not None else now
        failures = health.failures + 1
        failed = replace(health, failing_since=since, failures=failures)
        if health.status == "failing":
            return failed, None
        if failures >= policy.failing_after or now - since >= policy.failing_for:
            event = HealthEvent(
                "failing",
                health.feed,
                now,
                since=since,
                error=result.error,
                http_status=result.http_status,
                next_retry_at=result.next_poll_at,
            )
            return replace(failed, status="failing"), event
        return failed, None
    last_new = now if result.new_items or health.last_new_at is None else health.last_new_at
    fine = FeedHealth(health.feed, "ok", None, 0, last_new)
    if health.status == "failing":
        since = health.failing_since if health.failing_since is not None else now
        return fine, HealthEvent("recovered", health.feed, now, since=since, downtime=now - since)
    if policy.stale_after is not None and now - last_new >= policy.stale_after:
        if health.status == "stale":
            return replace(fine, status="stale"), None
        return replace(fine, status="stale"), HealthEvent("stale", health.feed, now, since=last_new)
    return fine, None


@dataclass(frozen=True)
class Storm:
    """Most feeds failing at once: open since `since`, or not."""

    since: float | None = None


def storm(
    current: Storm,
    event: HealthEvent | None,
    feeds: Mapping[str, FeedHealth],
    now: float,
) -> tuple[Storm, list[HealthEvent]]:
    """What to alert on given one feed's transition and every feed's health after it.

    `feeds` must include the feed that just polled, in its new state.
    """
    total = len(feeds)
    failing = sorted(name for name, h in feeds.items() if h.failures > 0)
    most = total >= STORM_MIN_FEEDS and len(failing) * 2 > total
    if current.since is None:
        if event is not None and event.kind == "failing" and most:
            opened = HealthEvent(
                "failing", "", now, since=now, error=event.error, feeds=tuple(failing)
            )
            return Storm(now), [opened]
        return current, [event] if event is not None else []
    if len(failing) * 2 <= total:
        closed = HealthEvent(
            "recovered",
            "",
            now,
            since=current.since,
            downtime=now - current.since,
            feeds=tuple(failing),
        )
        return Storm(), [closed]
    # During the storm single feeds are silent, except for going stale.
    return current, [event] if event is not None and event.kind == "stale" else []
