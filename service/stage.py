"""The loop every consuming stage runs: fetch a batch, handle it, commit, repeat.

Committing only after `handle` returns is what makes delivery at-least-once: a crash in
between means the batch is read again after restart, and the handlers are idempotent by id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from service.bus.base import Consumer, Record

BATCH = 200
IDLE_WAIT = 1.0


async def consume(
    consumer: Consumer,
    handle: Callable[[Sequence[Record]], Awaitable[None]],
    stop: asyncio.Event,
    *,
    until_idle: bool = False,
) -> int:
    """Run until `stop` is set (or, with `until_idle`, until nothing is waiting). Returns records handled."""
    handled = 0
    while not stop.is_set():
        records = await consumer.fetch(BATCH, 0.0 if until_idle else IDLE_WAIT)
        if not records:
            if until_idle:
                break
            continue
        await handle(records)
        await consumer.commit(records)
        handled += len(records)
    return handled
