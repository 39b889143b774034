"""The hold step before sending (embedded mode), and the digest sender (both modes).

`HoldingIntake` takes alerts from the bus like `OutboxIntake`, but first asks
`consumers.holding.decide` whether each goes out now (into the outbox, for the notifier's
workers) or waits for a digest (held in the store under its window). `DigestSender` has one
worker per destination that sends each window's digest once the window has ended, then records
it, in one transaction with removing its alerts, so it is never sent twice; in Kafka mode it
runs over the held topic instead (consumers/kafka_held.py).

Flood control counts the single alerts let into the outbox (the time they were taken in), which
is what the destination will receive, and is known before the send, so a restart counts them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import structlog

from consumers.delivery import DeliveryPolicy, retry_delay
from consumers.destinations.base import Destination
from consumers.errors import DeliveryError
from consumers.holding import Hold, HoldPolicy, Window, decide, digest_id
from consumers.notifier import Notifier
from consumers.story_desk import StoryDesk
from service.bus.base import Record
from service.metrics import Metrics
from service.models import Alert, Digest, DigestWindow
from service.store import HeldAlert, HeldWindow

log = structlog.get_logger(__name__)


class DigestStore(Protocol):
    """What the digest sender reads and records: SQLite (service/store/held.py) or Kafka
    (consumers/kafka_held.py)."""

    async def windows(self, destination: str | None = None) -> list[HeldWindow]: ...
    async def payloads(self, digest_id: str) -> list[bytes]: ...
    async def record_digest(
        self, window: HeldWindow, status: str, attempts: int, error: str | None
    ) -> int: ...
    async def release(self, digest_id: str) -> None: ...


class HeldStore(DigestStore, Protocol):
    """Where held alerts wait in embedded mode (service/store/held.py)."""

    async def known(self, alert_ids: Sequence[str]) -> set[str]: ...
    async def recent_sends(self, destination: str, since: float) -> list[float]: ...
    async def open_flood(self, destination: str, now: float) -> tuple[float, float] | None: ...
    async def admit(
        self,
        singles: Sequence[tuple[str, str, bytes]],
        counted: Sequence[str],
        held: Sequence[HeldAlert],
    ) -> None: ...


@runtime_checkable
class DigestDestination(Protocol):
    """A destination that can send many held alerts as one message."""

    async def send_digest(self, digest: Digest) -> None: ...


class HoldingIntake:
    """Embedded mode: each alert from the bus is sent now (outbox) or held for a digest."""

    def __init__(
        self,
        store: HeldStore,
        notifier: Notifier,
        desk: StoryDesk,
        policies: Mapping[str, HoldPolicy],
        priority_watchlists: Collection[str],
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._desk = desk
        self._policies = policies
        self._priority = frozenset(priority_watchlists)
        self._metrics = metrics
        self._clock = clock

    async def handle(self, records: Sequence[Record]) -> None:
        alerts: list[tuple[Alert, bytes]] = []
        for record in records:
            alert = Alert.model_validate_json(record.value)
            if not self._notifier.delivers_to(alert.destination):
                log.warning(
                    "alert_for_unknown_destination", alert=alert.id, destination=alert.destination
                )
                continue
            # One alert per story: a later copy becomes an update, or nothing.
            decided = await self._desk.decide(alert)
            if decided is not None:
                alerts.append((decided, decided.model_dump_json().encode()))
        known = await self._store.known([a.id for a, _ in alerts])
        if known:
            log.info("alerts_already_known", skipped=len(known))
        now = self._clock()
        singles: list[tuple[str, str, bytes]] = []
        counted: list[str] = []
        held: list[HeldAlert] = []
        sends: dict[str, list[float]] = {}  # per destination, including this batch's
        floods: dict[str, Window | None] = {}
        for alert, payload in alerts:
            if alert.id in known:
                continue
            known.add(alert.id)
            name = alert.destination
            policy = self._policies.get(name, HoldPolicy())
            if name not in sends:
                sends[name], floods[name] = await self._state(name, policy, now)
            priority = any(m.watchlist in self._priority for m in alert.matches)
            decision = decide(
                policy,
                priority=priority,
                recent_sends=sends[name],
                open_flood=floods[name],
                now=now,
            )
            if isinstance(decision, Hold):
                w = decision.window
                held.append(
                    HeldAlert(
                        alert.id, name, digest_id(name, w), w.kind, w.start, w.end, payload, now
                    )
                )
                if w.kind == "flood":
                    floods[name] = w
                self._metrics.alerts_held.labels(name, w.kind).inc()
                continue
            singles.append((alert.id, name, payload))
            if policy.flood is not None and not priority:
                counted.append(alert.id)  # priority alerts do not use up the flood limit
                sends[name].append(now)
        await self._store.admit(singles, counted, held)
        for _, name, _ in singles:
            self._notifier.wake(name)

    async def _state(
        self, name: str, policy: HoldPolicy, now: float
    ) -> tuple[list[float], Window | None]:
        if policy.flood is None:
            return [], None
        recent = await self._store.recent_sends(name, now - policy.flood.per)
        flood = await self._store.open_flood(name, now)
        return recent, None if flood is None else Window("flood", *flood)


class DigestSender:
    """One worker per destination: send each held window's digest once it has ended."""

    def __init__(
        self,
        store: DigestStore,
        destinations: Mapping[str, Destination],
        policies: Mapping[str, DeliveryPolicy],
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._destinations = destinations
        self._policies = policies
        self._metrics = metrics
        self._clock = clock
        self._rand = rand

    async def run(self, stop: asyncio.Event, *, until_idle: bool = False) -> None:
        """Until `stop`; with `until_idle`, until no digest is due now (later ones stay held)."""
        workers = [
            asyncio.create_task(self._worker(name, stop, until_idle), name=f"digest:{name}")
            for name in self._destinations
        ]
        if not workers and not until_idle:
            await stop.wait()  # nothing to send to: a stage still ends only on stop
            return
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self, name: str, stop: asyncio.Event, until_idle: bool) -> None:
        destination = self._destinations[name]
        policy = self._policies.get(name, DeliveryPolicy())
        bound = log.bind(destination=name)
        attempts: dict[str, int] = {}
        paused_until = 0.0
        while not stop.is_set():
            now = self._clock()
            due = [w for w in await self._store.windows(name) if w.end <= now]
            if not due and until_idle:
                return
            if not due or paused_until > now:
                wait = max(min(paused_until - now, 1.0), 0.2) if due else 0.5
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                continue
            window = due[0]
            attempt = attempts.get(window.digest_id, 0) + 1
            try:
                alerts = await self._send(destination, window)
            except DeliveryError as exc:
                await self._store.release(window.digest_id)  # no longer being sent
                delay = retry_delay(attempt, exc, policy, self._rand())
                if delay is None:
                    await self._store.record_digest(window, "dead", attempt, str(exc))
                    attempts.pop(window.digest_id, None)
                    bound.error("digest_dead_lettered", digest=window.digest_id, error=str(exc))
                    continue
                attempts[window.digest_id] = attempt
                paused_until = self._clock() + delay
                bound.warning(
                    "digest_delivery_failed",
                    digest=window.digest_id,
                    attempt=attempt,
                    error=str(exc),
                    retry_in_s=round(delay, 2),
                )
                continue
            await self._store.record_digest(window, "delivered", attempt, None)
            attempts.pop(window.digest_id, None)
            self._metrics.digests_sent.labels(name, window.kind).inc()
            self._metrics.alerts_delivered.labels(name).inc(alerts)
            bound.info(
                "digest_delivered",
                digest=window.digest_id,
                window=window.kind,
                alerts=alerts,
                attempt=attempt,
            )

    async def _send(self, destination: Destination, window: HeldWindow) -> int:
        alerts = [
            Alert.model_validate_json(p) for p in await self._store.payloads(window.digest_id)
        ]
        digest = Digest(
            id=window.digest_id,
            destination=window.destination,
            window=DigestWindow(
                start=datetime.fromtimestamp(window.start, UTC),
                end=datetime.fromtimestamp(window.end, UTC),
            ),
            alerts=alerts,
        )
        timeout = self._policies.get(destination.name, DeliveryPolicy()).timeout + 5
        if isinstance(destination, DigestDestination):
            send = destination.send_digest(digest)
        else:  # a destination type without digests gets the alerts one by one
            send = _one_by_one(destination, alerts)
            timeout *= max(len(alerts), 1)
        try:
            await asyncio.wait_for(send, timeout=timeout)
        except TimeoutError:
            raise DeliveryError("no answer in time", retriable=True) from None
        return len(alerts)


async def _one_by_one(destination: Destination, alerts: Sequence[Alert]) -> None:
    for alert in alerts:
        await destination.send(alert)
