"""Slack app mode's first messages over Kafka: the compacted `<prefix>.slack_messages` topic.

Every notifier replica reads the whole topic and follows it, so when a destination's
partition moves to another replica (or a notifier is killed and restarted), the new owner
knows where each story's first message went and its later copies still reply in the thread
or edit the message. A first message is published before its alert is marked delivered, so
by the time a copy behind it is sent, the record is in the topic; a lookup that misses first
catches up to the topic's end and looks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from service.bus.kafka import SLACK_MESSAGES, KafkaBus, make_consumer, read_to_end, start_client
from service.errors import BusError
from service.store import SlackMessage

log = structlog.get_logger(__name__)

# A lookup that misses waits at most this long for the topic to be read to its end.
CATCH_UP_TIMEOUT = 10.0


def encode(destination: str, story_id: str, message: SlackMessage) -> tuple[str, bytes]:
    value = {
        "destination": destination,
        "story": story_id,
        "channel": message.channel,
        "ts": message.ts,
        "payload": message.payload,
    }
    return f"{destination}\x1f{story_id}", json.dumps(value).encode()


def decode(value: bytes) -> tuple[str, str, SlackMessage]:
    d = json.loads(value)
    return d["destination"], d["story"], SlackMessage(d["channel"], d["ts"], d["payload"])


class KafkaFirstMessages:
    """`FirstMessages` on a compacted topic, followed from its beginning by every notifier."""

    def __init__(self, bus: KafkaBus) -> None:
        self._bus = bus
        self._consumer: AIOKafkaConsumer = make_consumer(bus.cfg, None)
        self._messages: dict[tuple[str, str], SlackMessage] = {}
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        await start_client(self._consumer, self._bus.cfg)
        topic = self._bus.topic(SLACK_MESSAGES)
        tps = [TopicPartition(topic, p) for p in await self._bus.partitions(SLACK_MESSAGES)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def get(self, destination: str, story_id: str) -> SlackMessage | None:
        found = self._messages.get((destination, story_id))
        if found is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.caught_up(), timeout=CATCH_UP_TIMEOUT)
            found = self._messages.get((destination, story_id))
        return found

    async def put(self, destination: str, story_id: str, message: SlackMessage) -> None:
        self._messages[(destination, story_id)] = message
        try:
            await self._bus.publish(SLACK_MESSAGES, [encode(destination, story_id, message)])
        except BusError as exc:
            # The message is posted; only another replica's later copies lose the thread.
            log.warning("slack_message_not_recorded", destination=destination, error=str(exc))

    async def follow(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batches = await self._consumer.getmany(timeout_ms=500, max_records=5000)
            for messages in batches.values():
                for m in messages:
                    if m.value is None:
                        continue
                    try:
                        destination, story, message = decode(m.value)
                    except (ValueError, KeyError, TypeError):
                        log.error(
                            "slack_message_unreadable", partition=m.partition, offset=m.offset
                        )
                        continue
                    self._messages[(destination, story)] = message
            async with self._changed:
                self._changed.notify_all()

    async def caught_up(self) -> None:
        """Wait until every record written before this call has been read."""
        await read_to_end(self._consumer, self._changed)
