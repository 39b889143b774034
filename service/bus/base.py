"""The small interface every stage talks to, whichever transport carries the messages.

Topics are logical names ("articles", "alerts", "alerts.dlq"); the Kafka transport adds the
configured prefix. Delivery is at-least-once: a consumer commits only after its side effect is
done, so after a crash it sees the uncommitted records again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

ARTICLES = "articles"
ALERTS = "alerts"
ALERTS_DLQ = "alerts.dlq"


@dataclass(frozen=True)
class Record:
    topic: str
    key: str
    value: bytes
    partition: int  # the embedded transport has one partition per topic
    offset: int


class Consumer(Protocol):
    async def fetch(self, max_records: int, timeout: float) -> list[Record]:
        """Up to `max_records` records, waiting up to `timeout` seconds for the first."""
        ...

    async def commit(self, records: Sequence[Record]) -> None:
        """Mark everything up to and including `records` as done for this group."""
        ...

    async def close(self) -> None: ...


class Bus(Protocol):
    async def publish(self, topic: str, messages: Sequence[tuple[str, bytes]]) -> None:
        """Durably append (key, value) messages; returns once they cannot be lost."""
        ...

    async def consumer(self, topic: str, group: str) -> Consumer: ...

    async def close(self) -> None: ...
