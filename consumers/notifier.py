"""The notifier stage: take alerts into the durable outbox, then deliver them per destination.

Each destination has its own worker, so one slow or dead destination never holds up another.
A worker sends the oldest due alert, waits `min_interval` between sends (Slack: ~1/s), and on
a retriable failure pauses the whole destination for the backoff (or the receiver's
Retry-After) before trying again. Permanent failures and exhausted retries become dead letters.
The outbox row of a delivered alert is the delivery log: an alert id already there is never
taken in again, so a redelivered alert does not reach Slack twice.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import structlog

from consumers.delivery import DeliveryPolicy, retry_delay
from consumers.destinations.base import Destination
from consumers.errors import DeliveryError
from consumers.story_desk import StoryDesk
from service.bus.base import Record
from service.metrics import Metrics
from service.models import Alert
from service.store import OutboxRow

log = structlog.get_logger(__name__)

# The longest a destination is held for a Retry-After longer than its delivery policy allows.
MAX_PAUSE = 3600.0

# One alert at a time per destination: the outbox row is claimed only while it is being sent,
# which is what lets a Kafka notifier hand a partition over without a send left in flight.
BATCH = 1


class DeliveryQueue(Protocol):
    """Where the workers take due alerts from and record outcomes (SQLite outbox, or Kafka)."""

    async def due(self, destination: str, now: float, limit: int) -> list[OutboxRow]: ...
    async def next_due_at(self, destination: str) -> float | None: ...
    async def mark_delivered(self, alert_id: str, attempts: int) -> None: ...
    async def mark_retry(self, alert_id: str, attempts: int, error: str, at: float) -> None: ...
    async def mark_dead(self, alert_id: str, attempts: int, error: str) -> None: ...


class Outbox(DeliveryQueue, Protocol):
    """The embedded store's outbox, which also takes alerts in."""

    async def enqueue(self, rows: Sequence[tuple[str, str, bytes]]) -> int: ...


class Notifier:
    def __init__(
        self,
        queue: DeliveryQueue,
        destinations: Mapping[str, Destination],
        policies: Mapping[str, DeliveryPolicy],
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._queue = queue
        self._destinations = destinations
        self._policies = policies
        self._metrics = metrics
        self._clock = clock
        self._rand = rand
        self._wake = {name: asyncio.Event() for name in destinations}

    def delivers_to(self, destination: str) -> bool:
        return destination in self._destinations

    def wake(self, destination: str) -> None:
        """New alerts for `destination` are waiting: its worker looks now rather than at its next tick."""
        if destination in self._wake:
            self._wake[destination].set()

    async def run(self, stop: asyncio.Event, *, until_empty: bool = False) -> None:
        """One worker per destination, until `stop` (or, with `until_empty`, until nothing is pending)."""
        workers = [
            asyncio.create_task(self._worker(name, stop, until_empty), name=f"deliver:{name}")
            for name in self._destinations
        ]
        try:
            await asyncio.gather(*workers)  # the first worker error ends them all, unwrapped
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self, name: str, stop: asyncio.Event, until_empty: bool) -> None:
        destination = self._destinations[name]
        policy = self._policies.get(name, DeliveryPolicy())
        wake = self._wake[name]
        bound = log.bind(destination=name)
        last_send = 0.0
        paused_until = 0.0  # the destination failed or asked us to wait: hold all its alerts
        while not stop.is_set():
            wake.clear()
            now = self._clock()
            next_at = await self._queue.next_due_at(name)
            if next_at is None and until_empty:
                return
            held = max(paused_until, last_send + destination.min_interval)
            ready_at = max(held, next_at if next_at is not None else now + 1.0)
            if ready_at > now:
                # New alerts wake us early, unless the destination itself must wait.
                await _wait_any(None if held > now else wake, stop, min(ready_at - now, 1.0))
                continue
            # An alert is claimed only now, right before it is sent.
            for row in await self._queue.due(name, now, BATCH):
                last_send = self._clock()
                pause = await self._deliver(destination, policy, row, bound)
                if pause:
                    paused_until = self._clock() + pause
                    break

    async def _deliver(
        self,
        destination: Destination,
        policy: DeliveryPolicy,
        row: OutboxRow,
        bound: structlog.stdlib.BoundLogger,
    ) -> float | None:
        """Send one alert and record the outcome; return how long the destination should pause."""
        alert = Alert.model_validate_json(row.payload)
        attempt = row.attempts + 1
        started = self._clock()
        try:
            await asyncio.wait_for(destination.send(alert), timeout=policy.timeout + 5)
        except DeliveryError as exc:
            return await self._failed(row, attempt, exc, policy, bound)
        except TimeoutError:
            timeout = DeliveryError(f"no answer within {policy.timeout:g}s", retriable=True)
            return await self._failed(row, attempt, timeout, policy, bound)
        await self._queue.mark_delivered(row.alert_id, attempt)
        self._metrics.alerts_delivered.labels(destination.name).inc()
        bound.info(
            "alert_delivered",
            alert=row.alert_id,
            attempt=attempt,
            latency_s=round(self._clock() - alert.article.fetched_at.timestamp(), 3),
            send_s=round(self._clock() - started, 3),
        )
        return None

    async def _failed(
        self,
        row: OutboxRow,
        attempt: int,
        exc: DeliveryError,
        policy: DeliveryPolicy,
        bound: structlog.stdlib.BoundLogger,
    ) -> float | None:
        self._metrics.alerts_failed.labels(row.destination, str(exc.retriable).lower()).inc()
        delay = retry_delay(attempt, exc, policy, self._rand())
        if delay is None:
            await self._queue.mark_dead(row.alert_id, attempt, str(exc))
            self._metrics.alerts_dead_lettered.labels(row.destination).inc()
            bound.error(
                "alert_dead_lettered",
                alert=row.alert_id,
                attempt=attempt,
                error=str(exc),
                retriable=exc.retriable,
            )
            # A receiver that asked for a pause gets it, even when this alert gave up; within
            # reason, so one absurd Retry-After cannot park a destination for good.
            return None if exc.retry_after is None else min(exc.retry_after, MAX_PAUSE)
        await self._queue.mark_retry(row.alert_id, attempt, str(exc), self._clock() + delay)
        bound.warning(
            "alert_delivery_failed",
            alert=row.alert_id,
            attempt=attempt,
            error=str(exc),
            retry_in_s=round(delay, 2),
        )
        return delay


class OutboxIntake:
    """Embedded mode: alerts from the bus go into the SQLite outbox, then the workers are woken."""

    def __init__(self, outbox: Outbox, notifier: Notifier, desk: StoryDesk) -> None:
        self._outbox = outbox
        self._notifier = notifier
        self._desk = desk

    async def handle(self, records: Sequence[Record]) -> None:
        """Take alerts into the outbox, one per story; ids already known are skipped."""
        rows: list[tuple[str, str, bytes]] = []
        for record in records:
            alert = Alert.model_validate_json(record.value)
            if not self._notifier.delivers_to(alert.destination):
                # The destination was removed from config since the alert was made.
                log.warning(
                    "alert_for_unknown_destination", alert=alert.id, destination=alert.destination
                )
                continue
            decided = await self._desk.decide(alert)
            if decided is not None:
                rows.append((decided.id, decided.destination, decided.model_dump_json().encode()))
        added = await self._outbox.enqueue(rows)
        if added < len(rows):
            log.info("alerts_already_known", skipped=len(rows) - added)
        for _, destination, _ in rows:
            self._notifier.wake(destination)


async def _wait_any(event: asyncio.Event | None, stop: asyncio.Event, timeout: float) -> None:
    """Sleep up to `timeout`, waking early when `event` or `stop` is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if event is not None:
        waiters.append(asyncio.ensure_future(event.wait()))
    try:
        await asyncio.wait(waiters, timeout=max(timeout, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
