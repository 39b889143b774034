"""Flood control, digests and quiet hours in Kafka mode: held alerts on `<prefix>.held`.

Alerts are keyed by destination, so all of one destination's alerts are in one partition of the
alerts topic and the one notifier replica that owns it decides what to hold. It records each
alert it holds on the compacted held topic (key: destination and alert id; value: the window,
the alert, and the alerts partition it came from), and each destination's recent single sends
(key: destination) for the flood limit. Every replica reads the whole topic and follows it, as
it does the delivery log and the story log, and a replica assigned a partition catches up with
it before it takes in an alert of that partition: after a kill -9 or a hand-over the new owner
holds what the old one held, counts its sends and sends its digests.

A digest is sent only by the owner of its partition, once the window has ended (`DigestSender`,
shared with embedded mode). Then the digest id is recorded as delivered in the delivery log, its
alert ids after it, and the held records are removed with tombstones. A replica that finds held
alerts whose digest id the log already has (a kill between those steps) only finishes that
bookkeeping, so no digest is sent twice; a kill between the send and the log entry sends it again
with the same id (the webhook-id), as any alert is at least once. A partition is given up only
after a digest send under way for it has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.holding import Hold, HoldPolicy, Window, decide, digest_id
from consumers.kafka_outbox import DeliveryLog, Outcome
from service.bus.base import ALERTS_DLQ
from service.bus.kafka import HELD, KafkaBus, make_consumer, read_to_end, start_client
from service.metrics import Metrics
from service.models import Alert
from service.store import HeldAlert, HeldWindow

log = structlog.get_logger(__name__)

SEP = "\x1f"
HELD_KEY = "held"
SENDS_KEY = "sends"


@dataclass(frozen=True)
class _Held:
    alert: HeldAlert
    partition: int  # of the alerts topic: its owner sends the digest


def _encode(held: _Held) -> bytes:
    a = held.alert
    value = {
        "destination": a.destination,
        "digest": a.digest_id,
        "window": {"kind": a.window_kind, "start": a.window_start, "end": a.window_end},
        "held_at": a.held_at,
        "partition": held.partition,
        "alert": a.payload.decode(),
    }
    return json.dumps(value).encode()


def _decode(alert_id: str, value: bytes) -> _Held:
    d = json.loads(value)
    w = d["window"]
    alert = HeldAlert(
        alert_id,
        str(d["destination"]),
        str(d["digest"]),
        str(w["kind"]),
        float(w["start"]),
        float(w["end"]),
        str(d["alert"]).encode(),
        float(d["held_at"]),
    )
    return _Held(alert, int(d["partition"]))


class KafkaHeldLog:
    """The held topic read in full: the hold step's state and the digest sender's `DigestStore`."""

    def __init__(
        self,
        bus: KafkaBus,
        deliveries: DeliveryLog,
        metrics: Metrics,
        destinations: Collection[str],
    ) -> None:
        self._bus = bus
        self._deliveries = deliveries
        self._metrics = metrics
        self._destinations = list(destinations)
        self._consumer: AIOKafkaConsumer = make_consumer(bus.cfg, None)
        self._partitions = 1
        self._held: dict[str, dict[str, _Held]] = {}  # destination -> alert id -> held
        self._sends: dict[str, dict[str, float]] = {}  # destination -> alert id -> sent at
        self._ready: set[int] = set()  # alerts partitions this replica owns and has caught up on
        self._sending: dict[str, int] = {}  # digest id -> partition, while its send is under way
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        await start_client(self._consumer, self._bus.cfg)
        parts = await self._bus.partitions(HELD)
        self._partitions = len(parts)
        tps = [TopicPartition(self._bus.topic(HELD), p) for p in parts]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def follow(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batches = await self._consumer.getmany(timeout_ms=500, max_records=5000)
            for messages in batches.values():
                for m in messages:
                    if m.key is not None:
                        self._apply(m.key.decode(), m.value, m.partition, m.offset)
            self._gauge()
            async with self._changed:
                self._changed.notify_all()

    def _apply(self, key: str, value: bytes | None, partition: int, offset: int) -> None:
        kind, _, rest = key.partition(SEP)
        if kind == SENDS_KEY:
            # Merged, not replaced: a late read of an older record is then harmless.
            if value is not None:
                sends = {str(k): float(t) for k, t in json.loads(value)["sends"].items()}
                oldest = min(sends.values(), default=0.0)  # the writer dropped what is older
                known = self._sends.get(rest, {})
                self._sends[rest] = {k: t for k, t in known.items() if t >= oldest} | sends
            return
        destination, _, alert_id = rest.rpartition(SEP)
        if kind != HELD_KEY or not alert_id:
            return
        if value is None:
            self._held.get(destination, {}).pop(alert_id, None)
            return
        try:
            held = _decode(alert_id, value)
        except (ValueError, KeyError, TypeError):
            log.error("held_record_unreadable", partition=partition, offset=offset)
            return
        self._held.setdefault(destination, {})[alert_id] = held

    async def caught_up(self) -> None:
        """Wait until every record written before this call has been read."""
        await read_to_end(self._consumer, self._changed)

    # --- partition ownership --------------------------------------------------------------

    async def assigned(self, partitions: Collection[int]) -> None:
        """Own these alerts partitions, once what their previous owner held has been read."""
        await self.caught_up()
        self._ready = set(partitions)

    async def revoke(self, partitions: Collection[int]) -> None:
        """Send no more digests of these partitions; wait (up to a minute) for one under way."""
        self._ready -= set(partitions)

        def idle() -> bool:
            return not any(p in partitions for p in self._sending.values())

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(idle), timeout=60)

    # --- the hold step's state ------------------------------------------------------------

    def is_held(self, destination: str, alert_id: str) -> bool:
        return alert_id in self._held.get(destination, {})

    def recent_sends(self, destination: str, since: float) -> list[float]:
        return sorted(t for t in self._sends.get(destination, {}).values() if t > since)

    def was_sent(self, destination: str, alert_id: str) -> bool:
        """Let through as a single (and counted) already, before a restart or a hand-over."""
        return alert_id in self._sends.get(destination, {})

    def open_flood(self, destination: str, now: float) -> Window | None:
        floods = [
            h.alert
            for h in self._held.get(destination, {}).values()
            if h.alert.window_kind == "flood" and h.alert.window_end > now
        ]
        if not floods:
            return None
        latest = max(floods, key=lambda a: a.window_end)
        return Window("flood", latest.window_start, latest.window_end)

    async def hold(self, alert: HeldAlert, partition: int) -> None:
        held = _Held(alert, partition)
        key = f"{HELD_KEY}{SEP}{alert.destination}{SEP}{alert.alert_id}"
        await self._bus.publish_to(HELD, [(key, _encode(held), partition % self._partitions)])
        self._held.setdefault(alert.destination, {})[alert.alert_id] = held

    async def count_send(
        self, destination: str, alert_id: str, at: float, keep: float, partition: int
    ) -> None:
        """Remember a single send for the flood limit; sends older than `keep` are dropped."""
        recent = self._sends.get(destination, {}).items()
        sends = {a: t for a, t in recent if t > at - keep} | {alert_id: at}
        value = json.dumps({"sends": sends}).encode()
        key = f"{SENDS_KEY}{SEP}{destination}"
        await self._bus.publish_to(HELD, [(key, value, partition % self._partitions)])
        self._sends[destination] = sends

    # --- DigestStore, for the digest sender -----------------------------------------------

    async def windows(self, destination: str | None = None) -> list[HeldWindow]:
        """The windows with held alerts in this replica's partitions, soonest due first."""
        names = list(self._held) if destination is None else [destination]
        groups: dict[str, list[_Held]] = {}
        for name in names:
            for h in list(self._held.get(name, {}).values()):
                if h.partition in self._ready:
                    groups.setdefault(h.alert.digest_id, []).append(h)
        out: list[HeldWindow] = []
        for digest, items in groups.items():
            outcome = self._deliveries.outcome(digest)
            if outcome in ("delivered", "dead"):
                # A previous owner sent it (or gave up) and stopped before tidying up.
                await self._finish(items, outcome, 0, "digest not delivered")
                continue
            a = items[0].alert
            out.append(
                HeldWindow(
                    digest, a.destination, a.window_kind, a.window_start, a.window_end, len(items)
                )
            )
        return sorted(out, key=lambda w: (w.end, w.start))

    async def payloads(self, digest_id: str) -> list[bytes]:
        """The window's alerts in the order they were held; its send is now under way."""
        items = self._window(digest_id)
        if items:
            self._sending[digest_id] = items[0].partition
        return [h.alert.payload for h in items]

    async def release(self, digest_id: str) -> None:
        self._sending.pop(digest_id, None)
        async with self._changed:
            self._changed.notify_all()

    async def record_digest(
        self, window: HeldWindow, status: str, attempts: int, error: str | None
    ) -> int:
        items = self._window(window.digest_id)
        outcome: Outcome = "delivered" if status == "delivered" else "dead"
        try:
            await self._deliveries.record_many([window.digest_id], outcome)
            await self._finish(items, outcome, attempts, error or "")
        finally:
            await self.release(window.digest_id)
        return len(items)

    def _window(self, digest: str) -> list[_Held]:
        items = [h for d in self._held.values() for h in d.values() if h.alert.digest_id == digest]
        return sorted(items, key=lambda h: (h.alert.held_at, h.alert.alert_id))

    async def _finish(
        self, items: Sequence[_Held], outcome: Outcome, attempts: int, error: str
    ) -> None:
        """Log each alert's outcome (dead letters for a digest given up on), then tombstones."""
        if outcome == "dead":
            letters = [(h.alert.alert_id, _letter(h.alert, attempts, error)) for h in items]
            await self._bus.publish(ALERTS_DLQ, letters)
        await self._deliveries.record_many([h.alert.alert_id for h in items], outcome)
        tombstones: list[tuple[str, bytes | None, int | None]] = [
            (
                f"{HELD_KEY}{SEP}{h.alert.destination}{SEP}{h.alert.alert_id}",
                None,
                h.partition % self._partitions,
            )
            for h in items
        ]
        await self._bus.publish_to(HELD, tombstones)
        for h in items:
            self._held.get(h.alert.destination, {}).pop(h.alert.alert_id, None)
        self._gauge()

    def _gauge(self) -> None:
        for name in self._destinations:
            self._metrics.alerts_holding.labels(name).set(len(self._held.get(name, {})))


def _letter(alert: HeldAlert, attempts: int, error: str) -> bytes:
    letter = {
        "alert": json.loads(alert.payload),
        "destination": alert.destination,
        "attempts": attempts,
        "error": error,
        "failed_at": datetime.now(UTC).isoformat(),
    }
    return json.dumps(letter).encode()


class KafkaHoldStep:
    """Decide, for each alert the notifier takes in, whether it is sent now or held."""

    def __init__(
        self,
        held: KafkaHeldLog,
        policies: Mapping[str, HoldPolicy],
        priority_watchlists: Collection[str],
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._held = held
        self._policies = policies
        self._priority = frozenset(priority_watchlists)
        self._metrics = metrics
        self._clock = clock

    async def hold(self, partition: int, alert: Alert, payload: bytes) -> bool:
        """True when the alert waits for a digest (or already did): nothing to send now."""
        name = alert.destination
        policy = self._policies.get(name, HoldPolicy())
        if not policy.holds:
            return False
        if self._held.is_held(name, alert.id):
            return True  # held before a restart or by the partition's previous owner
        if self._held.was_sent(name, alert.id):
            return False  # let through then, but not delivered yet: still a single
        now = self._clock()
        priority = any(m.watchlist in self._priority for m in alert.matches)
        flood = policy.flood
        decision = decide(
            policy,
            priority=priority,
            recent_sends=[] if flood is None else self._held.recent_sends(name, now - flood.per),
            open_flood=self._held.open_flood(name, now),
            now=now,
        )
        if isinstance(decision, Hold):
            w = decision.window
            await self._held.hold(
                HeldAlert(alert.id, name, digest_id(name, w), w.kind, w.start, w.end, payload, now),
                partition,
            )
            self._metrics.alerts_held.labels(name, w.kind).inc()
            log.info("alert_held", alert=alert.id, destination=name, window=w.kind, due_at=w.end)
            return True
        if flood is not None and not priority:  # priority alerts do not use up the flood limit
            await self._held.count_send(name, alert.id, now, flood.per, partition)
        return False
