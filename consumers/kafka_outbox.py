"""The notifier's outbox and delivery log when alerts come from Kafka.

`DeliveryLog` is the compacted `<prefix>.deliveries` topic read in full by every notifier
replica: the outcome of each alert id (delivered, dead, replayed). A replica that is assigned a
partition first catches up with the log, so an alert another replica delivered just before the
rebalance is not posted again.

`KafkaOutbox` holds the alerts of this replica's partitions in memory while the `Notifier`'s
per-destination workers deliver them. Alerts finish out of order (one destination may be in
backoff while another delivers), so per partition it commits up to the oldest alert not yet
finished: everything before that offset is delivered or dead-lettered, and a crash re-reads at
most the unfinished tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from consumers.story_desk import StoryDesk
from service.bus.base import ALERTS_DLQ
from service.bus.kafka import DELIVERIES, KafkaBus, make_consumer, start_client
from service.models import Alert
from service.store import OutboxRow

log = structlog.get_logger(__name__)

Outcome = Literal["delivered", "dead", "replayed"]


# An alert can only come back while the alerts topic still holds it (7 days), so outcomes
# older than that need not be kept in memory; the topic itself keeps them for `dlq list`.
REMEMBER = 8 * 86400.0
PRUNE_EVERY = 600.0
# And at most `kafka.remembered_outcomes` (MAX_REMEMBERED by default), newest first, so that
# memory stays bounded however many alerts go out (about 200 bytes each). An alert re-read
# after a crash or a hand-over is one of those the notifier took since its partition's last
# commit, inside this unless a destination held that commit back for hours; one re-read after
# its outcome was forgotten (a consumer group reset to the start of a week of alerts) is
# delivered again.
MAX_REMEMBERED = 100_000
# One string per outcome, not one per message read back.
_OUTCOME: dict[str, Outcome] = {"delivered": "delivered", "dead": "dead", "replayed": "replayed"}


class DeliveryLog:
    def __init__(
        self,
        bus: KafkaBus,
        clock: Callable[[], float] = time.time,
        *,
        remember: int = MAX_REMEMBERED,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._remember = remember
        self._topic = bus.topic(DELIVERIES)
        self._consumer: AIOKafkaConsumer = make_consumer(bus.cfg, None)
        self._outcomes: dict[str, tuple[Outcome, float]] = {}
        self._pruned_at = clock()
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        await start_client(self._consumer, self._bus.cfg)
        tps = [TopicPartition(self._topic, p) for p in await self._bus.partitions(DELIVERIES)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)

    async def stop(self) -> None:
        await self._consumer.stop()

    def outcome(self, alert_id: str) -> Outcome | None:
        known = self._outcomes.get(alert_id)
        return None if known is None else known[0]

    async def follow(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batches = await self._consumer.getmany(timeout_ms=500, max_records=5000)
            for messages in batches.values():
                for m in messages:
                    if m.key is not None and m.value is not None:
                        data = json.loads(m.value)
                        at = float(data.get("at", self._clock()))
                        outcome = _OUTCOME.get(data["outcome"], data["outcome"])
                        self._outcomes[m.key.decode()] = (outcome, at)
            self._prune()
            async with self._changed:
                self._changed.notify_all()

    def _prune(self) -> None:
        now = self._clock()
        crowded = len(self._outcomes) > self._remember * 1.1  # prune in batches, not per alert
        if now - self._pruned_at < PRUNE_EVERY and not crowded:
            return
        self._pruned_at = now
        cutoff = now - REMEMBER
        kept = [(v[1], k) for k, v in self._outcomes.items() if v[1] >= cutoff]
        if len(kept) > self._remember:
            kept = sorted(kept)[-self._remember :]
        # Rebuilt in time order, so the dict's own order is oldest first again.
        self._outcomes = {k: self._outcomes[k] for _, k in sorted(kept)}

    async def caught_up(self, timeout: float | None = None) -> None:
        """Wait until everything written to the log before this call has been read.

        No timeout by default: sending before the log has caught up risks a double post, and
        a broker that stays away is the watchdog's to handle.
        """
        assignment = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(assignment)

        async def behind() -> bool:
            for tp, end in ends.items():
                if await self._consumer.position(tp) < end:
                    return True
            return False

        deadline = None if timeout is None else time.monotonic() + timeout
        while await behind():
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("the delivery log did not catch up in time")
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=1.0)

    async def record(self, alert_id: str, outcome: Outcome) -> None:
        await self.record_many([alert_id], outcome)

    async def record_many(self, ids: Collection[str], outcome: Outcome) -> None:
        """One outcome for many ids (a digest and its alerts), published as one batch."""
        now = self._clock()
        value = json.dumps({"outcome": outcome, "at": now}).encode()
        await self._bus.publish(DELIVERIES, [(i, value) for i in ids])
        for i in ids:
            self._outcomes[i] = (outcome, now)


class HoldStep(Protocol):
    """Flood limits, digests, quiet hours (consumers/kafka_held.py): True when held."""

    async def hold(self, partition: int, alert: Alert, payload: bytes) -> bool: ...


@dataclass(frozen=True)
class _Pending:
    row: OutboxRow
    tp: TopicPartition
    offset: int
    claimed: bool = False


class KafkaOutbox:
    """The Notifier's `DeliveryQueue` over the alerts of this replica's partitions."""

    def __init__(
        self,
        bus: KafkaBus,
        deliveries: DeliveryLog,
        destinations: Collection[str],
        desk: StoryDesk,
        clock: Callable[[], float] = time.time,
        holding: HoldStep | None = None,
    ) -> None:
        self._bus = bus
        self._log = deliveries
        self._desk = desk
        self._holding = holding
        self._destinations = set(destinations)
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self._unfinished: dict[TopicPartition, set[int]] = {}
        self._next: dict[TopicPartition, int] = {}  # one past the highest offset taken in
        self._committed: dict[TopicPartition, int] = {}
        self._idle = asyncio.Condition()

    def __len__(self) -> int:
        return len(self._pending)

    async def take(self, tp: TopicPartition, offset: int, value: bytes) -> str | None:
        """Take one alert record in; returns its destination if it waits for delivery."""
        self._next[tp] = max(self._next.get(tp, 0), offset + 1)
        try:
            alert = Alert.model_validate_json(value)
        except ValidationError as exc:
            log.error(
                "alert_unreadable", partition=tp.partition, offset=offset, errors=exc.error_count()
            )
            return None
        if alert.destination not in self._destinations:
            log.warning(
                "alert_for_unknown_destination", alert=alert.id, destination=alert.destination
            )
            return None
        decided = await self._desk.decide(alert)
        if decided is None:
            return None  # a later copy of a story this destination has: nothing to send
        alert, value = decided, decided.model_dump_json().encode()
        outcome = self._log.outcome(alert.id)
        if outcome == "dead":
            # `dlq replay` records "replayed" before it publishes the alert again: once the
            # log has caught up, a replayed alert no longer reads as dead.
            await self._log.caught_up()
            outcome = self._log.outcome(alert.id)
        if outcome in ("delivered", "dead") or alert.id in self._pending:
            return None  # already done, or a repeat of one in hand: nothing to send
        if self._holding is not None and await self._holding.hold(tp.partition, alert, value):
            return None  # held for a digest: the held topic has it, so its offset may commit
        now = self._clock()
        row = OutboxRow(alert.id, alert.destination, value, "pending", 0, now, None, now)
        self._pending[alert.id] = _Pending(row, tp, offset)
        self._unfinished.setdefault(tp, set()).add(offset)
        return alert.destination

    def committable(self) -> dict[TopicPartition, int]:
        """Per partition, the offset before which every alert is finished, if it moved."""
        out: dict[TopicPartition, int] = {}
        for tp, end in self._next.items():
            open_offsets = self._unfinished.get(tp)
            safe = min(open_offsets) if open_offsets else end
            if safe > self._committed.get(tp, -1):
                out[tp] = safe
        return out

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        self._committed.update(offsets)

    async def revoke(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        """Drop unclaimed alerts of these partitions, let claimed sends finish; return final offsets."""
        for alert_id, item in list(self._pending.items()):
            if item.tp in partitions and not item.claimed:
                del self._pending[alert_id]
        try:
            async with self._idle:
                await asyncio.wait_for(
                    self._idle.wait_for(
                        lambda: not any(p.tp in partitions for p in self._pending.values())
                    ),
                    timeout=60,
                )
            return {tp: off for tp, off in self.committable().items() if tp in partitions}
        finally:
            # Whatever happened, these partitions are no longer ours to commit or to send from.
            for alert_id, item in list(self._pending.items()):
                if item.tp in partitions:
                    del self._pending[alert_id]
            for tp in partitions:
                self._unfinished.pop(tp, None)
                self._next.pop(tp, None)
                self._committed.pop(tp, None)

    # --- the DeliveryQueue the Notifier's workers use --------------------------------------

    async def due(self, destination: str, now: float, limit: int) -> list[OutboxRow]:
        ready = sorted(
            (
                p
                for p in self._pending.values()
                if p.row.destination == destination
                and not p.claimed
                and p.row.next_attempt_at <= now
            ),
            key=lambda p: (p.row.next_attempt_at, p.offset),
        )[:limit]
        for p in ready:
            self._pending[p.row.alert_id] = replace(p, claimed=True)
        return [p.row for p in ready]

    async def next_due_at(self, destination: str) -> float | None:
        times = [
            p.row.next_attempt_at
            for p in self._pending.values()
            if p.row.destination == destination and not p.claimed
        ]
        return min(times) if times else None

    async def mark_delivered(self, alert_id: str, attempts: int) -> None:
        await self._log.record(alert_id, "delivered")
        await self._finish(alert_id)

    async def mark_retry(self, alert_id: str, attempts: int, error: str, at: float) -> None:
        item = self._pending.get(alert_id)
        if item is not None:
            row = replace(item.row, attempts=attempts, last_error=error, next_attempt_at=at)
            self._pending[alert_id] = replace(item, row=row, claimed=False)
        await self._notify()

    async def mark_dead(self, alert_id: str, attempts: int, error: str) -> None:
        item = self._pending.get(alert_id)
        if item is not None:
            letter = {
                "alert": json.loads(item.row.payload),
                "destination": item.row.destination,
                "attempts": attempts,
                "error": error,
                "failed_at": datetime.now(UTC).isoformat(),
            }
            await self._bus.publish(ALERTS_DLQ, [(alert_id, json.dumps(letter).encode())])
        await self._log.record(alert_id, "dead")
        await self._finish(alert_id)

    async def _finish(self, alert_id: str) -> None:
        item = self._pending.pop(alert_id, None)
        if item is not None:
            self._unfinished.get(item.tp, set()).discard(item.offset)
        await self._notify()

    async def _notify(self) -> None:
        async with self._idle:
            self._idle.notify_all()
