"""Feed state in Kafka, and which poller owns which feed.

The compacted `<prefix>.feeds` topic holds the latest state of every feed (validators, seen
items, schedule), keyed by feed name, each feed always in the same partition. Pollers join one
consumer group on that topic: Kafka's own assignment decides which poller owns which partitions
and so which feeds. A poller that is assigned a partition reads it from the beginning, and polls
its feeds only once it has caught up, so it continues exactly where the previous owner stopped:
no old item is alerted again and no new one is skipped. Before a partition is taken away, the
polls under way for its feeds finish and save their state.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import structlog
from aiokafka import ConsumerRebalanceListener, TopicPartition

from service.bus.kafka import FEEDS, KafkaBus, make_consumer, start_client
from service.settings import KAFKA_MAX_ITEMS, FeedConfig
from service.store import FeedState

log = structlog.get_logger(__name__)

# Seen items kept per feed in its state record, newest by last sighting: those of the last
# read, and those that left the feed since, for `seen_retention` but at most SEEN_READS times
# the read's size (and at least MIN_SEEN). The record is held in memory and written again on
# every poll, so it is bounded by what the feed holds, not by the 90 days of the retention
# (thousands of ids a feed). An item that comes back after that many newer ones went through
# its feed is taken as new, and the notifier sends no second alert for it while its delivery
# log remembers the alert's id (`kafka.remembered_outcomes`). MAX_SEEN keeps every record
# far below the topic's message size limit.
SEEN_READS = 4
MIN_SEEN = 200
MAX_SEEN = 2 * KAFKA_MAX_ITEMS


@dataclass
class _Feed:
    state: FeedState
    seen: dict[str, float] = field(default_factory=dict)  # item id -> last time it was in the feed
    rev: int = 0  # increases with every save, so a stale read-back never overwrites newer state


def partition_of(feed_name: str, partitions: int) -> int:
    """A feed's fixed partition: every poller computes the same one."""
    return zlib.crc32(feed_name.encode()) % partitions


class KafkaFeedStates:
    """FeedStateStore backed by the compacted feeds topic, plus this poller's share of the feeds."""

    def __init__(
        self,
        bus: KafkaBus,
        feeds: Sequence[FeedConfig],
        *,
        seen_retention: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bus = bus
        self._feeds = list(feeds)
        self._retention = seen_retention
        self._clock = clock
        self._topic = bus.topic(FEEDS)
        self._consumer = make_consumer(bus.cfg, "pollers")
        self._partitions = 0
        self._state: dict[str, _Feed] = {}
        self._assigned: set[int] = set()
        self._catching_up: dict[int, int] = {}  # partition -> end offset to reach before polling
        self.before_revoke: Callable[[list[str]], Awaitable[None]] | None = None
        self.last_progress = time.monotonic()

    async def start(self) -> None:
        await start_client(self._consumer, self._bus.cfg)
        self._partitions = len(await self._bus.partitions(FEEDS))
        self._consumer.subscribe([self._topic], listener=_Listener(self))

    async def stop(self) -> None:
        await self._consumer.stop()

    @property
    def assigned(self) -> set[int]:
        return set(self._assigned)

    def owned(self) -> list[FeedConfig]:
        """The feeds this poller polls now: in its partitions, with their state read in full."""
        ready = self._assigned - set(self._catching_up)
        return [f for f in self._feeds if partition_of(f.name, self._partitions) in ready]

    def owns(self, feed: str) -> bool:
        """This poller polls `feed` now; `owns("")`: it has partition 0 (the feed-health storm's)."""
        ready = self._assigned - set(self._catching_up)
        return (partition_of(feed, self._partitions) if feed else 0) in ready

    async def follow(self, stop: asyncio.Event) -> None:
        """Keep reading the feeds topic: the group's heartbeat, and state from other pollers."""
        while not stop.is_set():
            batches = await self._consumer.getmany(timeout_ms=500, max_records=500)
            for messages in batches.values():
                for message in messages:
                    self._apply(message.key, message.value)
            for partition, end in list(self._catching_up.items()):
                tp = TopicPartition(self._topic, partition)
                if tp not in self._consumer.assignment():
                    continue
                if await self._consumer.position(tp) >= end:
                    del self._catching_up[partition]
                    log.info("feed_partition_ready", partition=partition, feeds=len(self.owned()))
            self.last_progress = time.monotonic()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None or value is None:
            return
        data = json.loads(value)
        incoming = _Feed(
            FeedState(**data["state"]), {k: float(v) for k, v in data["seen"].items()}, data["rev"]
        )
        name = key.decode()
        held = self._state.get(name)
        if held is None or incoming.rev > held.rev:
            self._state[name] = incoming

    # --- rebalance ------------------------------------------------------------------------

    async def _assigned_partitions(self, assigned: set[TopicPartition]) -> None:
        mine = {tp.partition for tp in assigned if tp.topic == self._topic}
        ends = await self._consumer.end_offsets(list(assigned)) if assigned else {}
        self._catching_up = {tp.partition: off for tp, off in ends.items() if off > 0}
        self._assigned = mine
        log.info("feed_partitions_assigned", partitions=sorted(mine))

    async def _revoked_partitions(self, revoked: set[TopicPartition]) -> None:
        gone = {tp.partition for tp in revoked if tp.topic == self._topic}
        leaving = [f.name for f in self._feeds if partition_of(f.name, self._partitions) in gone]
        self._assigned -= gone
        if self.before_revoke is not None and leaving:
            await self.before_revoke(leaving)  # polls under way finish and save first
        for name in leaving:
            self._state.pop(name, None)
        log.info("feed_partitions_revoked", partitions=sorted(gone))

    # --- FeedStateStore -------------------------------------------------------------------

    async def feed_state(self, feed: str, url: str) -> FeedState:
        held = self._state.get(feed)
        if held is None:
            return FeedState(feed=feed, url=url)
        if held.state.url != url:
            return FeedState(feed=feed, url=url, initialised=held.state.initialised)
        return held.state

    async def unseen(self, feed: str, item_ids: Sequence[str]) -> set[str]:
        held = self._state.get(feed)
        known = held.seen if held else {}
        return {i for i in item_ids if i not in known}

    async def save_feed_state(self, state: FeedState, seen: Sequence[str] = ()) -> None:
        now = self._clock()
        held = self._state.get(state.feed) or _Feed(state)
        updated = _Feed(state, kept_seen(held.seen, seen, now, self._retention), held.rev + 1)
        payload: dict[str, Any] = {"state": asdict(state), "seen": updated.seen, "rev": updated.rev}
        await self._bus.publish_to(
            FEEDS,
            [
                (
                    state.feed,
                    json.dumps(payload).encode(),
                    partition_of(state.feed, self._partitions),
                )
            ],
        )
        self._state[state.feed] = updated


def kept_seen(
    held: dict[str, float], read: Sequence[str], now: float, retention: float
) -> dict[str, float]:
    """A feed's seen items after a read of `read` at `now` (id -> last sighting)."""
    items = dict(held)
    if not read and items:
        # Not modified, or failed: the last successful read's items are still there.
        latest = max(items.values())
        read = [i for i, t in items.items() if t == latest]
    for item in read:
        items[item] = now
    bound = min(MAX_SEEN, max(MIN_SEEN, SEEN_READS * len(read)))
    cutoff = now - retention
    if len(items) > bound or any(t < cutoff for t in items.values()):
        kept = sorted(((t, i) for i, t in items.items() if t >= cutoff), reverse=True)[:bound]
        items = {i: t for t, i in kept}
    return items


async def kafka_feed_states(bus: KafkaBus) -> list[FeedState]:
    """The latest saved state of every feed in the feeds topic (for `newsalert feeds`)."""
    latest: dict[str, dict[str, Any]] = {}
    for key, value in await bus.read_all(FEEDS):
        data = json.loads(value)
        if key not in latest or data["rev"] > latest[key]["rev"]:
            latest[key] = data
    return [FeedState(**d["state"]) for d in latest.values()]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: KafkaFeedStates) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner._revoked_partitions(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._owner._assigned_partitions(assigned)
