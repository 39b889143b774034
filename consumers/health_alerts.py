"""Delivers feed health alerts (queued by the poller's health step) to `feed_health.destinations`.

One worker per destination, oldest first, with the destination's retry policy; a destination
type without feed-health rendering is skipped with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import structlog

from consumers.delivery import DeliveryPolicy, retry_delay
from consumers.destinations.base import Destination
from consumers.errors import DeliveryError
from service.models import FeedHealthAlert
from service.store import HealthAlertRow

log = structlog.get_logger(__name__)


class HealthAlertQueue(Protocol):
    async def due(self, destination: str, now: float) -> list[HealthAlertRow]: ...
    async def mark(
        self,
        alert_id: str,
        destination: str,
        status: str,
        attempts: int,
        error: str | None = None,
        at: float = 0.0,
    ) -> None: ...


@runtime_checkable
class HealthDestination(Protocol):
    async def send_feed_health(self, alert: FeedHealthAlert) -> None: ...


class HealthAlertSender:
    def __init__(
        self,
        queue: HealthAlertQueue,
        destinations: Mapping[str, Destination],
        policies: Mapping[str, DeliveryPolicy],
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._queue = queue
        self._destinations = destinations
        self._policies = policies
        self._clock = clock
        self._rand = rand

    async def run(self, stop: asyncio.Event, *, until_idle: bool = False) -> None:
        workers = [
            asyncio.create_task(self._worker(n, stop, until_idle), name=f"health:{n}")
            for n in self._destinations
        ]
        if not workers and not until_idle:
            await stop.wait()  # nothing to send to: a stage still ends only on stop
            return
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self, name: str, stop: asyncio.Event, until_idle: bool) -> None:
        destination = self._destinations[name]
        policy = self._policies.get(name, DeliveryPolicy())
        bound = log.bind(destination=name)
        while not stop.is_set():
            rows = await self._queue.due(name, self._clock())
            if not rows and until_idle:
                return
            for row in rows:
                if not await self._deliver(destination, policy, row, bound):
                    break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)

    async def _deliver(
        self,
        destination: Destination,
        policy: DeliveryPolicy,
        row: HealthAlertRow,
        bound: structlog.stdlib.BoundLogger,
    ) -> bool:
        """Send one; False when the destination should be left alone for now."""
        alert = FeedHealthAlert.model_validate_json(row.payload)
        attempt = row.attempts + 1
        if not isinstance(destination, HealthDestination):
            bound.warning("feed_health_unsupported", alert=alert.id)
            await self._queue.mark(row.alert_id, row.destination, "dead", attempt, "unsupported")
            return True
        try:
            await asyncio.wait_for(destination.send_feed_health(alert), timeout=policy.timeout + 5)
        except (DeliveryError, TimeoutError) as exc:
            error = (
                exc
                if isinstance(exc, DeliveryError)
                else DeliveryError("timed out", retriable=True)
            )
            delay = retry_delay(attempt, error, policy, self._rand())
            if delay is None:
                await self._queue.mark(row.alert_id, row.destination, "dead", attempt, str(error))
                bound.error("feed_health_dead_lettered", alert=alert.id, error=str(error))
                return True
            at = self._clock() + delay
            await self._queue.mark(
                row.alert_id, row.destination, "pending", attempt, str(error), at
            )
            bound.warning("feed_health_delivery_failed", alert=alert.id, retry_in_s=round(delay, 2))
            return False
        await self._queue.mark(row.alert_id, row.destination, "delivered", attempt)
        bound.info("feed_health_delivered", alert=alert.id, type=alert.type, feed=alert.feed)
        return True
