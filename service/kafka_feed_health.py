"""Feed health in Kafka mode, with any number of pollers: the compacted `<prefix>.feed.health`.

The topic holds each feed's health (key: feed), whether most feeds are failing at once (key:
`storm`), and the health alerts not yet delivered (key: alert id and destination; a tombstone
once delivered). Every poller reads all of it and follows it, so each has every feed's health,
a feed's new owner after a restart or hand-over continues its streak (`observe` waits until the
topic is read to its end first), and the alerts queued by a poller that died are still there.

Who does what, each decided by the Kafka assignment of the feeds topic (service/kafka_feed_state):
- a feed's owner applies `feed_health.observe` after each poll and queues its transition's
  alert, unless most feeds are failing their polls (then the cause is ours, and one storm alert
  speaks for them all) or a storm is open;
- the owner of partition 0 of the feeds topic opens and closes the storm, from every feed's
  health, and queues its one "feeds failing" and one "feeds recovered" alert;
- each queued alert is delivered (with the destination's retries, then given up as dead) by the
  owner of its feed, the storm's by the owner of partition 0: one sender per alert at a time.

Delivery is at least once: a sender killed between a send and its tombstone, or a partition
moved during a send, sends the alert again with the same id (the webhook-id).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from service.bus.kafka import FEED_HEALTH, KafkaBus, make_consumer, read_to_end, start_client
from service.feed_health import (
    STORM_MIN_FEEDS,
    FeedHealth,
    HealthEvent,
    HealthPolicy,
    PollResult,
    Storm,
    observe,
)
from service.feed_watch import health_alert
from service.metrics import Metrics
from service.store import HealthAlertRow

log = structlog.get_logger(__name__)

SEP = "\x1f"
FEED_KEY = "feed"
STORM_KEY = "storm"
ALERT_KEY = "alert"


@dataclass(frozen=True)
class _Queued:
    """A health alert waiting for one destination; `owner` is its feed ("" for the storm's)."""

    alert_id: str
    destination: str
    owner: str
    payload: bytes
    attempts: int = 0
    next_attempt_at: float = 0.0
    created_at: float = 0.0
    status: str = "pending"
    last_error: str | None = None

    @property
    def key(self) -> str:
        return f"{ALERT_KEY}{SEP}{self.alert_id}{SEP}{self.destination}"

    def encode(self) -> bytes:
        value = asdict(self)
        value["payload"] = self.payload.decode()
        return json.dumps(value).encode()


def _decode_queued(value: bytes) -> _Queued:
    d = json.loads(value)
    d["payload"] = str(d["payload"]).encode()
    return _Queued(**d)


class KafkaFeedHealth:
    """The poller's `HealthObserver` and the health sender's `HealthAlertQueue` over Kafka."""

    def __init__(
        self,
        bus: KafkaBus,
        feeds: Sequence[str],
        destinations: Sequence[str],
        policy_of: Callable[[str], HealthPolicy],
        owns: Callable[[str], bool],
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`owns(feed)`: this poller polls the feed now; `owns("")`: it has feeds partition 0."""
        self._bus = bus
        self._names = list(feeds)
        self._destinations = list(destinations)
        self._policy_of = policy_of
        self._owns = owns
        self._metrics = metrics
        self._clock = clock
        self._consumer: AIOKafkaConsumer = make_consumer(bus.cfg, None)
        self._feeds: dict[str, FeedHealth] = {}
        self._storm = Storm()
        self._queued: dict[str, _Queued] = {}  # by key
        self._changed = asyncio.Condition()
        self._lock = asyncio.Lock()  # one transition at a time: the storm reads them all
        # The storm is judged only once the topic has been read to where it ended at start.
        self._start_ends: dict[TopicPartition, int] = {}
        self._synced = False

    async def start(self) -> None:
        await start_client(self._consumer, self._bus.cfg)
        topic = self._bus.topic(FEED_HEALTH)
        tps = [TopicPartition(topic, p) for p in await self._bus.partitions(FEED_HEALTH)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        self._start_ends = await self._consumer.end_offsets(tps)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def follow(self, stop: asyncio.Event) -> None:
        """Read what every poller writes; as owner of partition 0, open and close the storm."""
        while not stop.is_set():
            batches = await self._consumer.getmany(timeout_ms=500, max_records=5000)
            for messages in batches.values():
                for m in messages:
                    if m.key is not None:
                        self._apply(m.key.decode(), m.value, m.partition, m.offset)
            async with self._changed:
                self._changed.notify_all()
            if not self._synced:
                positions = [await self._consumer.position(tp) for tp in self._start_ends]
                ends = self._start_ends.values()
                self._synced = all(p >= e for p, e in zip(positions, ends, strict=True))
            if self._synced and self._owns(""):
                async with self._lock:
                    await self._keep_storm(self._clock())
            self._gauge()

    def _apply(self, key: str, value: bytes | None, partition: int, offset: int) -> None:
        kind, _, rest = key.partition(SEP)
        try:
            if kind == FEED_KEY and value is not None:
                self._feeds[rest] = FeedHealth(**json.loads(value))
            elif kind == STORM_KEY and value is not None:
                self._storm = Storm(json.loads(value)["since"])
            elif kind == ALERT_KEY:
                if value is None:
                    self._queued.pop(key, None)
                else:
                    self._queued[key] = _decode_queued(value)
        except (ValueError, KeyError, TypeError):
            log.error("feed_health_record_unreadable", partition=partition, offset=offset)

    async def caught_up(self) -> None:
        """Wait until every record written before this call has been read."""
        await read_to_end(self._consumer, self._changed)

    # --- HealthObserver: the feed's owner, after each poll --------------------------------

    async def observe(self, feed: str, result: PollResult, now: float) -> None:
        # First the previous owner's last word on this feed (outside the lock: `follow`, which
        # reads it, takes the lock too).
        await self.caught_up()
        async with self._lock:
            before = self._feeds.get(feed, FeedHealth(feed))
            health, event = observe(before, result, self._policy_of(feed), now)
            self._feeds[feed] = health
            events: list[HealthEvent] = []
            if event is not None:
                if event.kind == "stale" or not (
                    self._storm.since is not None or self._most_failing()
                ):
                    events.append(event)
                else:
                    log.info("feed_health_in_storm", feed=feed, type=event.kind)
            records = [] if health == before else [(f"{FEED_KEY}{SEP}{feed}", asdict(health))]
            await self._write(records, events, owner=feed, now=now)

    # --- the storm: the owner of partition 0 ----------------------------------------------

    def _failing(self) -> list[str]:
        return sorted(n for n in self._names if self._feeds.get(n, FeedHealth(n)).failures > 0)

    def _most_failing(self) -> bool:
        total = len(self._names)
        return total >= STORM_MIN_FEEDS and len(self._failing()) * 2 > total

    async def _keep_storm(self, now: float) -> None:
        failing = self._failing()
        if self._storm.since is None:
            crossed = any(self._feeds.get(n, FeedHealth(n)).status == "failing" for n in failing)
            if not (crossed and self._most_failing()):
                return
            self._storm = Storm(now)
            event = HealthEvent("failing", "", now, since=now, feeds=tuple(failing))
        elif len(failing) * 2 <= len(self._names):
            since = self._storm.since
            self._storm = Storm()
            event = HealthEvent(
                "recovered", "", now, since=since, downtime=now - since, feeds=tuple(failing)
            )
        else:
            return
        await self._write([(STORM_KEY, {"since": self._storm.since})], [event], owner="", now=now)

    async def _write(
        self,
        records: Sequence[tuple[str, object]],
        events: Sequence[HealthEvent],
        *,
        owner: str,
        now: float,
    ) -> None:
        """The feed's (or storm's) new state and its alerts, one per destination, in one batch."""
        queued = [
            _Queued(a.id, d, owner, a.model_dump_json().encode(), created_at=now)
            for a in (health_alert(e) for e in events)
            for d in self._destinations
        ]
        messages: list[tuple[str, bytes | None, int | None]] = [
            (key, json.dumps(value).encode(), None) for key, value in records
        ]
        messages += [(q.key, q.encode(), None) for q in queued]
        await self._bus.publish_to(FEED_HEALTH, messages)
        for q in queued:
            self._queued[q.key] = q
        for e in events:
            log.warning("feed_health_changed", type=e.kind, feed=e.feed, feeds=len(e.feeds))

    # --- HealthAlertQueue: the sender of the alerts this poller owns ----------------------

    async def due(self, destination: str, now: float) -> list[HealthAlertRow]:
        if not self._due(destination, now):
            return []
        # Before sending, the previous sender's last word: a feed's new owner may not have read
        # the tombstone of an alert its old owner delivered just before the hand-over.
        await self.caught_up()
        return self._due(destination, now)

    def _due(self, destination: str, now: float) -> list[HealthAlertRow]:
        rows = sorted(
            (
                q
                for q in self._queued.values()
                if q.destination == destination
                and q.status == "pending"
                and q.next_attempt_at <= now
                and self._owns(q.owner)
            ),
            key=lambda q: (q.created_at, q.alert_id),
        )
        return [HealthAlertRow(q.alert_id, q.destination, q.payload, q.attempts) for q in rows]

    async def mark(
        self,
        alert_id: str,
        destination: str,
        status: str,
        attempts: int,
        error: str | None = None,
        at: float = 0.0,
    ) -> None:
        """Delivered: a tombstone. Retry later, or dead (given up): the updated record."""
        key = f"{ALERT_KEY}{SEP}{alert_id}{SEP}{destination}"
        queued = self._queued.get(key)
        if queued is None:
            return
        if status == "delivered":
            await self._bus.publish_to(FEED_HEALTH, [(key, None, None)])
            self._queued.pop(key, None)
            return
        updated = _Queued(
            alert_id,
            destination,
            queued.owner,
            queued.payload,
            attempts,
            at,
            queued.created_at,
            status,
            error,
        )
        await self._bus.publish_to(FEED_HEALTH, [(key, updated.encode(), None)])
        self._queued[key] = updated

    def _gauge(self) -> None:
        counts = Counter(self._feeds.get(n, FeedHealth(n)).status for n in self._names)
        for state in ("ok", "failing", "stale"):
            self._metrics.feeds_by_health.labels(state).set(counts.get(state, 0))
