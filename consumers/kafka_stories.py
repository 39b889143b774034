"""Story decisions over Kafka: the compacted `<prefix>.stories` topic as the desk's `StoryLog`.

Every notifier replica reads the whole topic and follows it, restoring each decision into its
`StoryDesk`, so when a partition (and with it a destination's alerts) moves to this replica,
the stories the previous owner opened are already here: `caught_up` is awaited on assignment,
before any alert of the new partition is decided.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.stories.index import StoryItem
from consumers.story_desk import StoryDesk, StoryRecord
from service.bus.kafka import STORIES, KafkaBus, make_consumer, read_to_end, start_client

log = structlog.get_logger(__name__)


def encode(record: StoryRecord) -> tuple[str, bytes]:
    i = record.item
    value = {
        "destination": record.destination,
        "story": record.story_id,
        "article": i.article_id,
        "feed": i.feed,
        "title": i.title,
        "summary": i.summary,
        "link": i.link,
        "at": i.at.isoformat(),
    }
    return f"{record.destination}\x1f{i.article_id}", json.dumps(value).encode()


def decode(value: bytes) -> StoryRecord:
    d = json.loads(value)
    item = StoryItem(
        d["article"],
        d["feed"],
        d["title"],
        d["summary"],
        d["link"],
        datetime.fromisoformat(d["at"]),
    )
    return StoryRecord(d["destination"], item, d["story"])


class KafkaStoryLog:
    def __init__(self, bus: KafkaBus) -> None:
        self._bus = bus
        self._consumer: AIOKafkaConsumer = make_consumer(bus.cfg, None)
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        await start_client(self._consumer, self._bus.cfg)
        topic = self._bus.topic(STORIES)
        tps = [TopicPartition(topic, p) for p in await self._bus.partitions(STORIES)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def record(self, record: StoryRecord) -> None:
        await self._bus.publish(STORIES, [encode(record)])

    async def follow(self, desk: StoryDesk, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batches = await self._consumer.getmany(timeout_ms=500, max_records=5000)
            for messages in batches.values():
                records = []
                for m in messages:
                    if m.value is None:
                        continue
                    try:
                        records.append(decode(m.value))
                    except (ValueError, KeyError, TypeError):
                        log.error("story_record_unreadable", partition=m.partition, offset=m.offset)
                desk.restore(records)
            async with self._changed:
                self._changed.notify_all()

    async def caught_up(self) -> None:
        """Wait until every decision written before this call has been read and restored."""
        started = time.monotonic()
        await read_to_end(self._consumer, self._changed)
        log.debug("story_log_caught_up", seconds=round(time.monotonic() - started, 3))
