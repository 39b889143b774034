"""The notifier's Kafka side: alerts fetched into the Kafka outbox, and partition hand-over.

Offsets are committed per partition only up to the oldest alert not yet delivered or
dead-lettered (at-least-once); a partition leaves only after its sends in flight finish.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from consumers.kafka_held import KafkaHeldLog
from consumers.kafka_outbox import DeliveryLog, KafkaOutbox
from consumers.kafka_stories import KafkaStoryLog
from consumers.notifier import Notifier
from service.bus.kafka import commit_quietly

log = structlog.get_logger(__name__)

# Alerts held in memory by one notifier before it stops fetching more (backpressure).
MAX_PENDING = 5000


class NotifierIntake:
    """Fetch alerts into the outbox; commit per partition up to the oldest unfinished alert."""

    def __init__(self, consumer: AIOKafkaConsumer, outbox: KafkaOutbox, notifier: Notifier) -> None:
        self._consumer = consumer
        self._outbox = outbox
        self._notifier = notifier
        self.last_progress = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                assigned = self._consumer.assignment()
                if len(self._outbox) > MAX_PENDING:
                    self._consumer.pause(*assigned)
                else:
                    self._consumer.resume(*assigned)
                batches = await self._consumer.getmany(timeout_ms=500, max_records=500)
                for tp, messages in batches.items():
                    for m in messages:
                        destination = await self._outbox.take(tp, m.offset, m.value or b"")
                        if destination is not None:
                            self._notifier.wake(destination)
                await self._commit()
                self.last_progress = time.monotonic()
        finally:
            await self._commit()

    async def _commit(self) -> None:
        offsets = self._outbox.committable()
        if offsets and await commit_quietly(self._consumer, offsets):
            self._outbox.committed(offsets)


class PartitionHandOver(ConsumerRebalanceListener):  # type: ignore[misc]
    """Partitions leave only after their sends (and digests) under way finish; arrive only after
    the delivery, story and held logs caught up."""

    def __init__(
        self,
        outbox: KafkaOutbox,
        deliveries: DeliveryLog,
        stories: KafkaStoryLog,
        consumer: AIOKafkaConsumer,
        held: KafkaHeldLog,
    ) -> None:
        self._outbox = outbox
        self._deliveries = deliveries
        self._stories = stories
        self._consumer = consumer
        self._held = held

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._held.revoke({tp.partition for tp in revoked})  # digests under way finish
        final = await self._outbox.revoke(set(revoked))
        await commit_quietly(self._consumer, final)
        log.info("alert_partitions_revoked", partitions=sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._deliveries.caught_up()
        await self._stories.caught_up()  # the stories the previous owner opened are here
        await self._held.assigned({tp.partition for tp in assigned})  # and what it held
        log.info("alert_partitions_assigned", partitions=sorted(tp.partition for tp in assigned))
