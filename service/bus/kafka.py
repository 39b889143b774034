"""The Kafka transport: the same `Bus` as the embedded one, over Apache Kafka with aiokafka.

Producers are idempotent with acks=all, so a publish that returns is on every in-sync replica
and a retried send is never written twice. Consumers join a group, never auto-commit, and
commit explicit offsets only when the stage's side effect is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    RebalanceInProgressError,
    TopicAlreadyExistsError,
)
from aiokafka.helpers import create_ssl_context

from service.bus.base import ALERTS, ALERTS_DLQ, ARTICLES, Record
from service.errors import BusError, NewsalertError
from service.settings import KafkaSettings

log = structlog.get_logger(__name__)

FEEDS = "feeds"  # compacted: latest state of each feed, keyed by feed name
DELIVERIES = "deliveries"  # compacted: the notifiers' shared delivery log, keyed by alert id
STORIES = "stories"  # compacted: story decisions, keyed by destination and article id
FEED_HEALTH = "feed.health"  # compacted: feed health, the storm flag, health alerts to deliver
HELD = "held"  # compacted: alerts held for a digest and recent single sends, per destination
# compacted: Slack app mode's first message of each story, keyed by destination and story id
SLACK_MESSAGES = "slack_messages"

DAY_MS = 86_400_000
# Feed state carries the feed's seen items; give it room beyond the 1 MB default.
STATE_MAX_BYTES = 4 * 1024 * 1024

TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    ARTICLES: {"retention.ms": str(7 * DAY_MS)},
    ALERTS: {"retention.ms": str(7 * DAY_MS)},
    ALERTS_DLQ: {"retention.ms": str(90 * DAY_MS)},
    FEEDS: {"cleanup.policy": "compact", "max.message.bytes": str(STATE_MAX_BYTES)},
    # As long as the dead letters: `dlq list` reads a letter's latest outcome here.
    DELIVERIES: {"cleanup.policy": "compact,delete", "retention.ms": str(90 * DAY_MS)},
    # As long as the alerts topic: a story can only grow from alerts still there to re-read.
    STORIES: {"cleanup.policy": "compact,delete", "retention.ms": str(7 * DAY_MS)},
    # Compacted only: a weekly digest holds alerts longer than any time-based retention would
    # keep them; a sent digest's alerts are removed with tombstones.
    HELD: {"cleanup.policy": "compact"},
    FEED_HEALTH: {"cleanup.policy": "compact"},
    # As long as the stories: a copy can only join a story still there.
    SLACK_MESSAGES: {"cleanup.policy": "compact,delete", "retention.ms": str(7 * DAY_MS)},
}


class KafkaUnavailableError(BusError):
    """The broker cannot be reached (at start-up, or for longer than kafka.broker_timeout)."""


def client_options(cfg: KafkaSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": cfg.bootstrap_servers,
        "client_id": cfg.client_id,
        "security_protocol": cfg.security_protocol,
    }
    if cfg.security_protocol in ("SSL", "SASL_SSL"):
        # The system's trusted CAs, with hostname checks: what a managed Kafka service needs.
        options["ssl_context"] = create_ssl_context()
    if cfg.sasl_mechanism:
        options["sasl_mechanism"] = cfg.sasl_mechanism
        options["sasl_plain_username"] = cfg.sasl_username
        options["sasl_plain_password"] = (
            cfg.sasl_password.get_secret_value() if cfg.sasl_password else None
        )
    return options


def topic_name(cfg: KafkaSettings, logical: str) -> str:
    return f"{cfg.topic_prefix}.{logical}"


async def ensure_topics(cfg: KafkaSettings) -> None:
    """Create the topics that are missing, with the configured partitions and replication."""
    admin = AIOKafkaAdminClient(**client_options(cfg), request_timeout_ms=15_000)
    try:
        await start_client(admin, cfg)
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                topic_name(cfg, logical),
                num_partitions=cfg.partitions,
                replication_factor=cfg.replication_factor,
                topic_configs=configs,
            )
            for logical, configs in TOPIC_CONFIGS.items()
            if topic_name(cfg, logical) not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            for item in getattr(response, "topic_errors", []):
                name, code = item[0], item[1]
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise NewsalertError(f"cannot create Kafka topic {name}: error code {code}")
            log.info("kafka_topics_created", topics=[t.name for t in missing])
    finally:
        await admin.close()


async def start_client(client: Any, cfg: KafkaSettings) -> None:
    """Start an aiokafka client; an unreachable broker is one sentence, not a traceback."""
    try:
        await client.start()
    except KafkaError as exc:
        raise KafkaUnavailableError(
            f"cannot reach Kafka at {cfg.bootstrap_servers}: {type(exc).__name__}"
        ) from None


def make_producer(cfg: KafkaSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client_options(cfg),
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_request_size=STATE_MAX_BYTES,
        request_timeout_ms=30_000,
    )


def make_consumer(cfg: KafkaSettings, group: str | None, **extra: Any) -> AIOKafkaConsumer:
    options: dict[str, Any] = {
        "group_id": None if group is None else f"{cfg.topic_prefix}.{group}",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        "max_partition_fetch_bytes": STATE_MAX_BYTES,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 2_000,
        "rebalance_timeout_ms": 60_000,
        "max_poll_interval_ms": 300_000,
    }
    options.update(extra)
    return AIOKafkaConsumer(**client_options(cfg), **options)


class KafkaBus:
    """`Bus` over Kafka. Open with `await KafkaBus.open(cfg)`; close with `close()`."""

    def __init__(self, cfg: KafkaSettings, producer: AIOKafkaProducer) -> None:
        self.cfg = cfg
        self.producer = producer
        self._consumers: list[KafkaConsumer] = []

    @classmethod
    async def open(cls, cfg: KafkaSettings) -> KafkaBus:
        await ensure_topics(cfg)
        producer = make_producer(cfg)
        await start_client(producer, cfg)
        return cls(cfg, producer)

    def topic(self, logical: str) -> str:
        return topic_name(self.cfg, logical)

    async def partitions(self, logical: str) -> list[int]:
        """The topic's partition numbers (waits for a topic created moments ago to show up)."""
        return sorted(await self.producer.partitions_for(self.topic(logical)))

    async def publish(self, topic: str, messages: Sequence[tuple[str, bytes]]) -> None:
        await self.publish_to(topic, [(key, value, None) for key, value in messages])

    async def publish_to(
        self, topic: str, messages: Sequence[tuple[str, bytes | None, int | None]]
    ) -> None:
        """Publish (key, value, partition or None) and wait until every one is acknowledged."""
        if not messages:
            return
        name = self.topic(topic)
        try:
            pending = [
                await self.producer.send(name, value, key=key.encode(), partition=partition)
                for key, value, partition in messages
            ]
            await asyncio.gather(*pending)
        except KafkaError as exc:
            raise BusError(f"cannot publish to Kafka topic {name}: {type(exc).__name__}") from None

    async def read_all(self, logical: str) -> list[tuple[str, bytes]]:
        """Every (key, value) of a topic, from its beginning to its end as of now."""
        consumer = make_consumer(self.cfg, None)
        await start_client(consumer, self.cfg)
        try:
            tps = [TopicPartition(self.topic(logical), p) for p in await self.partitions(logical)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            out: list[tuple[str, bytes]] = []
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
                out.extend(
                    ((m.key or b"").decode(), m.value)
                    for messages in batches.values()
                    for m in messages
                    if m.value is not None
                )
            return out
        finally:
            await consumer.stop()

    async def consumer(self, topic: str, group: str) -> KafkaConsumer:
        raw = make_consumer(self.cfg, group)
        raw.subscribe([self.topic(topic)])
        await start_client(raw, self.cfg)
        consumer = KafkaConsumer(raw, topic)
        self._consumers.append(consumer)
        return consumer

    async def close(self) -> None:
        for consumer in self._consumers:
            await consumer.close()
        await self.producer.stop()


class KafkaConsumer:
    """A stage's view of one group subscription: fetch, then commit what was handled."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str) -> None:
        self.raw = consumer
        self._topic = topic
        self.last_fetch = time.monotonic()
        self._closed = False

    async def fetch(self, max_records: int, timeout: float) -> list[Record]:
        batches = await self.raw.getmany(timeout_ms=int(timeout * 1000), max_records=max_records)
        self.last_fetch = time.monotonic()
        return [
            Record(self._topic, (m.key or b"").decode(), m.value or b"", tp.partition, m.offset)
            for tp, messages in batches.items()
            for m in messages
        ]

    async def commit(self, records: Sequence[Record]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(self.raw_topic, r.partition)
            offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
        await commit_quietly(self.raw, offsets)

    @property
    def raw_topic(self) -> str:
        (name,) = self.raw.subscription()
        return str(name)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.raw.stop()


async def commit_quietly(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> bool:
    """Commit; after a rebalance took the partitions away, the new owner re-reads them instead."""
    if not offsets:
        return True
    try:
        await consumer.commit(offsets)
    except (CommitFailedError, IllegalStateError, RebalanceInProgressError) as exc:
        log.warning("kafka_commit_skipped", reason=type(exc).__name__, partitions=len(offsets))
        return False
    return True


async def read_to_end(consumer: AIOKafkaConsumer, changed: asyncio.Condition) -> None:
    """Wait until `consumer` has read every record its partitions held when this was called.

    For the readers of compacted topics (stories, held alerts, feed health, Slack messages):
    their follow loop reads the records and notifies `changed` after each batch.
    """
    ends = await consumer.end_offsets(list(consumer.assignment()))
    for tp, end in ends.items():
        while await consumer.position(tp) < end:
            async with changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=1.0)
