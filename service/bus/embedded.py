"""The embedded transport: topics are rows of the SQLite store, offsets are per consumer group.

Publishing wakes consumers of the same process at once, so a story flows through all three
stages within milliseconds; the timeout in `fetch` only bounds how long an idle stage sleeps.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from service.bus.base import Record
from service.store import BusLog


class EmbeddedBus:
    def __init__(self, store: BusLog) -> None:
        self._store = store
        self._events: defaultdict[str, set[asyncio.Event]] = defaultdict(set)

    async def publish(self, topic: str, messages: Sequence[tuple[str, bytes]]) -> None:
        if not messages:
            return
        await self._store.append_messages(topic, messages)
        for event in self._events[topic]:
            event.set()

    async def consumer(self, topic: str, group: str) -> EmbeddedConsumer:
        await self._store.ensure_offset(topic, group)
        event = asyncio.Event()
        event.set()  # read whatever is already waiting at start
        self._events[topic].add(event)
        return EmbeddedConsumer(self, topic, group, event)

    def _forget(self, topic: str, event: asyncio.Event) -> None:
        self._events[topic].discard(event)

    async def close(self) -> None:
        self._events.clear()


class EmbeddedConsumer:
    def __init__(self, bus: EmbeddedBus, topic: str, group: str, event: asyncio.Event) -> None:
        self._bus = bus
        self._topic = topic
        self._group = group
        self._event = event

    async def fetch(self, max_records: int, timeout: float) -> list[Record]:
        rows = await self._bus._store.read_messages(self._topic, self._group, max_records)
        if not rows:
            self._event.clear()
            # Re-read after clearing: a publish between the read and the clear must not be missed.
            rows = await self._bus._store.read_messages(self._topic, self._group, max_records)
            if not rows:
                try:
                    await asyncio.wait_for(self._event.wait(), timeout)
                except TimeoutError:
                    return []
                rows = await self._bus._store.read_messages(self._topic, self._group, max_records)
        return [Record(self._topic, key, value, 0, seq) for seq, key, value in rows]

    async def commit(self, records: Sequence[Record]) -> None:
        if records:
            await self._bus._store.commit_offset(
                self._topic, self._group, max(r.offset for r in records)
            )

    async def close(self) -> None:
        self._bus._forget(self._topic, self._event)
