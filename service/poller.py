"""The poller stage: schedule feeds, fetch, parse, drop what was seen, publish the rest.

`poll_feed` reads like the checklist it implements; `run` keeps every feed on its own schedule
with bounded concurrency. A failing feed backs off with jitter and is retried forever: its last
error, failure count and next poll are logged and kept in the feed state.

Most polls bring nothing new, so they are made cheap: a 304 is not read, a body whose digest
equals the last one read (`FeedState.body_hash`) is not parsed, and otherwise a fast pass
(service/prepass.py) finds the entries' ids and feedparser parses only the entries the store
has not seen. A feed where that pass disagrees with feedparser is parsed in full from then on
(the set of such feeds is bounded by the configured feeds).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

import structlog

from service import prepass
from service.bus.base import ARTICLES, Bus
from service.errors import FeedError, InfrastructureError
from service.feed_health import PollResult
from service.fetch import FetchResult
from service.metrics import Metrics
from service.models import Article, FeedRef
from service.parse import parse_prepared
from service.schedule import (
    next_poll_after_failure,
    next_poll_after_success,
    publication_order,
    select_backfill,
)
from service.settings import FeedConfig, Settings
from service.store import FeedState

log = structlog.get_logger(__name__)


class FeedFetcher(Protocol):
    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        allow_private: bool = False,
    ) -> FetchResult: ...


class FeedStateStore(Protocol):
    async def feed_state(self, feed: str, url: str) -> FeedState: ...
    async def unseen(self, feed: str, item_ids: Sequence[str]) -> set[str]: ...
    async def save_feed_state(self, state: FeedState, seen: Sequence[str] = ()) -> None: ...


class HealthObserver(Protocol):
    """Feed health (service/feed_watch.py): told every poll's outcome, alerts on transitions."""

    async def observe(self, feed: str, result: PollResult, now: float) -> None: ...


@dataclass(frozen=True)
class PollOutcome:
    feed: str
    status: str  # "ok", "not_modified" (a 304 or the last body again) or "error"
    next_poll_at: float
    items: int = 0
    published: int = 0
    error: str | None = None


def body_digest(result: FetchResult) -> str:
    """What identifies a body read in full: its bytes and the content type they came with."""
    digest = hashlib.blake2b(result.body, digest_size=16)
    digest.update(b"\0" + (result.content_type or "").encode())
    return digest.hexdigest()


class Poller:
    def __init__(
        self,
        settings: Settings,
        store: FeedStateStore,
        fetcher: FeedFetcher,
        bus: Bus,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        health: HealthObserver | None = None,
    ) -> None:
        self._settings = settings
        self._health = health
        self._store = store
        self._fetcher = fetcher
        self._bus = bus
        self._metrics = metrics
        self._clock = clock
        self._rand = rand
        self._running: dict[str, asyncio.Task[PollOutcome]] = {}
        self._limit = asyncio.Semaphore(settings.polling.concurrency)
        self._parse_in_full: set[str] = set()  # feeds whose entries prepass cannot tell

    async def poll_feed(self, feed: FeedConfig) -> PollOutcome:
        bound = log.bind(feed=feed.name)
        state = await self._store.feed_state(feed.name, feed.url)
        now = self._clock()
        try:
            result = await self._fetcher.fetch(
                feed.url,
                etag=state.etag,
                last_modified=state.last_modified,
                allow_private=self._settings.feed_allow_private(feed),
            )
            if result.status == 304:
                return await self._unchanged(feed, state, now, result, "not_modified")
            digest = body_digest(result)
            if digest == state.body_hash:
                return await self._unchanged(feed, state, now, result, "unchanged")
            articles, ids = await self._read(feed, state, result)
            new = await self._new_articles(feed, state, articles)
            await self._bus.publish(ARTICLES, [(a.id, a.model_dump_json().encode()) for a in new])
            next_at = await self._record_success(
                feed, state, now, result, seen=ids, body_hash=digest
            )
        except FeedError as exc:
            return await self._record_failure(feed, state, now, exc, bound)
        except InfrastructureError:
            raise  # the store or bus is down: no feed is at fault, and none can be recorded
        except Exception as exc:  # a parser bug must not stop the other feeds
            bound.exception("feed_poll_crashed")
            return await self._record_failure(
                feed, state, now, FeedError(f"internal error: {exc!r}"), bound
            )
        await self._observe(feed.name, PollResult(ok=True, new_items=len(new)))
        self._metrics.feed_polls.labels(feed.name, "ok").inc()
        self._metrics.articles_polled.labels(feed.name).inc(len(ids))
        self._metrics.articles_published.labels(feed.name).inc(len(new))
        bound.info("feed_polled", items=len(ids), new=len(new), status=result.status)
        return PollOutcome(feed.name, "ok", next_at, items=len(ids), published=len(new))

    async def _unchanged(
        self, feed: FeedConfig, state: FeedState, now: float, result: FetchResult, outcome: str
    ) -> PollOutcome:
        """A 304, or the body of the last read again: nothing to parse, the items still there."""
        next_at = await self._record_success(feed, state, now, result, seen=())
        self._metrics.feed_polls.labels(feed.name, outcome).inc()
        log.debug("feed_" + outcome, feed=feed.name)
        await self._observe(feed.name, PollResult(ok=True))
        return PollOutcome(feed.name, "not_modified", next_at)

    async def _read(
        self, feed: FeedConfig, state: FeedState, result: FetchResult
    ) -> tuple[list[Article], list[str]]:
        """The articles of the document that may be new, and the ids of all its items.

        feedparser is CPU-bound and synchronous, so it and the fast pass run in a thread.
        Entries the store has seen are not parsed, nor, at a first poll that alerts on
        nothing (backfill none), any entry whose id the fast pass could tell.
        """
        ref = FeedRef(name=feed.name, url=feed.url)
        fetched_at = datetime.fromtimestamp(self._clock(), UTC)
        max_items = self._settings.polling.max_items
        scanned = await asyncio.to_thread(
            prepass.scan,
            result.body,
            feed=ref,
            content_type=result.content_type,
            max_items=max_items,
        )
        if scanned.entries is not None and feed.name not in self._parse_in_full:
            known = [e.id for e in scanned.entries if e.id is not None]
            unseen = await self._store.unseen(feed.name, known)
            alerts = state.initialised or self._settings.feed_backfill(feed).mode != "none"
            chosen = prepass.choose(scanned.entries, unseen, alerts=alerts)
            if not chosen:
                return [], list(dict.fromkeys(known))
            parsed = await asyncio.to_thread(
                prepass.parse_chosen,
                scanned,
                chosen,
                feed=ref,
                fetched_at=fetched_at,
                max_items=max_items,
            )
            if parsed is not None:
                return parsed.articles, list(dict.fromkeys([*known, *parsed.entry_ids]))
            self._parse_in_full.add(feed.name)
            log.info("feed_parsed_in_full", feed=feed.name, reason="prepass disagrees")
        full = await asyncio.to_thread(
            parse_prepared, scanned.clean, feed=ref, fetched_at=fetched_at, max_items=max_items
        )
        return full.articles, [a.id for a in full.articles]  # repeats already dropped

    async def _new_articles(
        self, feed: FeedConfig, state: FeedState, articles: list[Article]
    ) -> list[Article]:
        unseen_ids = await self._store.unseen(feed.name, [a.id for a in articles])
        new = [a for a in articles if a.id in unseen_ids]
        if not state.initialised:
            now = datetime.fromtimestamp(self._clock(), UTC)
            new = select_backfill(new, self._settings.feed_backfill(feed), now)
        return publication_order(new)

    async def _record_success(
        self,
        feed: FeedConfig,
        state: FeedState,
        now: float,
        result: FetchResult,
        seen: Sequence[str],
        body_hash: str | None = None,
    ) -> float:
        interval = self._settings.feed_interval(feed)
        new_state = replace(
            state,
            body_hash=body_hash or state.body_hash,
            etag=result.etag if result.status != 304 else state.etag,
            last_modified=result.last_modified if result.status != 304 else state.last_modified,
            initialised=True,
            last_polled_at=now,
            last_success_at=now,
            next_poll_at=next_poll_after_success(now, interval, self._rand()),
            consecutive_failures=0,
            last_error=None,
        )
        if state.consecutive_failures:
            log.info("feed_recovered", feed=feed.name, after_failures=state.consecutive_failures)
        self._metrics.feed_consecutive_failures.labels(feed.name).set(0)
        await self._store.save_feed_state(new_state, seen)
        return new_state.next_poll_at

    async def _record_failure(
        self,
        feed: FeedConfig,
        state: FeedState,
        now: float,
        exc: FeedError,
        bound: structlog.stdlib.BoundLogger,
    ) -> PollOutcome:
        failures = state.consecutive_failures + 1
        # The backoff runs from when the failure is known, not from when the poll began: a
        # server that took the whole timeout to fail still gets the full wait.
        failed_at = self._clock()
        next_at = next_poll_after_failure(
            failed_at,
            interval=self._settings.feed_interval(feed),
            failures=failures,
            max_backoff=self._settings.polling.max_backoff,
            rand=self._rand(),
            retry_after=exc.retry_after,
        )
        await self._store.save_feed_state(
            replace(
                state,
                last_polled_at=now,
                next_poll_at=next_at,
                consecutive_failures=failures,
                last_error=str(exc),
            )
        )
        await self._observe(
            feed.name,
            PollResult(ok=False, error=str(exc), http_status=exc.status, next_poll_at=next_at),
        )
        kind = type(exc).__name__
        self._metrics.feed_polls.labels(feed.name, "error").inc()
        self._metrics.feed_errors.labels(feed.name, kind).inc()
        self._metrics.feed_consecutive_failures.labels(feed.name).set(failures)
        bound.warning(
            "feed_failed",
            error=str(exc),
            kind=kind,
            failures=failures,
            retry_in_s=round(next_at - failed_at, 1),
        )
        return PollOutcome(feed.name, "error", next_at, error=str(exc))

    async def _observe(self, feed: str, result: PollResult) -> None:
        if self._health is not None:
            await self._health.observe(feed, result, self._clock())

    async def poll_all(self, feeds: Sequence[FeedConfig]) -> list[PollOutcome]:
        """Poll each feed once, `polling.concurrency` at a time."""
        return list(await asyncio.gather(*(self._poll_in_turn(f) for f in feeds)))

    async def _poll_in_turn(self, feed: FeedConfig) -> PollOutcome:
        async with self._limit:  # at most polling.concurrency feeds at once
            return await self.poll_feed(feed)

    async def run(
        self, feeds: Sequence[FeedConfig] | Callable[[], Sequence[FeedConfig]], stop: asyncio.Event
    ) -> None:
        """Poll every feed when it is due until `stop` is set; in-flight polls finish first.

        `feeds` may be a callable: in Kafka mode the feeds this poller owns change with the
        group's assignment, and a feed that comes back has its schedule re-read from its state.
        """
        current = feeds if callable(feeds) else (lambda: feeds)
        try:
            await self._schedule(current, stop)
        finally:
            # Normally all done by now; after a crash or cancel, polls must not outlive us.
            for task in self._running.values():
                task.cancel()

    async def _schedule(
        self, current: Callable[[], Sequence[FeedConfig]], stop: asyncio.Event
    ) -> None:
        due: dict[str, float] = {}  # feed name -> when it is next due
        while not stop.is_set():
            active = list(current())
            for name in set(due) - {f.name for f in active}:
                del due[name]  # no longer ours; re-read its state if it comes back
            now = self._clock()
            for feed in active:
                if feed.name in self._running:
                    continue
                if feed.name not in due:
                    due[feed.name] = (
                        await self._store.feed_state(feed.name, feed.url)
                    ).next_poll_at
                if due[feed.name] <= now:
                    self._running[feed.name] = asyncio.create_task(
                        self._poll_in_turn(feed), name=f"poll:{feed.name}"
                    )
            for name, task in list(self._running.items()):
                if task.done():
                    del self._running[name]
                    # poll_feed records feed errors; what it raises (store or bus down, a bug)
                    # ends the poller, and with it the process.
                    outcome = task.result()
                    if name in due:
                        due[name] = outcome.next_poll_at
            waiting = [d for name, d in due.items() if name not in self._running]
            wait = min([*(d - now for d in waiting), 1.0])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.05))
        await self.wait_for(list(self._running))

    async def wait_for(self, names: Sequence[str], timeout: float | None = None) -> None:
        """Wait until polls of these feeds that are under way have finished (and saved state)."""
        tasks = [self._running[n] for n in names if n in self._running]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
