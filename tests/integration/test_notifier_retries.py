"""The real `Notifier` delivering to a real local webhook receiver from a real SQLite outbox, with
its clock and random source injected: when a receiver fails, the next attempt comes exactly
when the delivery policy says (backoff with jitter from the random source, at least the
receiver's Retry-After), never sooner; and the alert arrives once, signed.

The clock is frozen and moved by the test, so "not sooner" is checked by letting the worker
look (it looks at least once a second) while the clock stands just short of the retry time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from consumers.delivery import DeliveryPolicy, backoff_delay
from consumers.destinations.webhook import WebhookDestination
from consumers.notifier import Notifier
from service.metrics import Metrics
from service.models import Alert, Article, FeedRef, WatchlistMatch, alert_id
from service.store import Store
from tests.support.cli import WEBHOOK_SECRET
from tests.support.clock import FakeClock
from tests.support.receivers import Received, Reply, WebhookReceiver

SEED = 7
# Long enough that a real-time wait could never pass for it, short enough for the receiver's
# five-minute timestamp tolerance once the clock has been moved past all of them.
POLICY = DeliveryPolicy(max_attempts=4, initial_backoff=20.0, max_backoff=60.0, timeout=2.0)
LOOK = 2.5  # real seconds: the worker looks at the clock at least twice in this time


def make_alert(clock: FakeClock) -> Alert:
    when = datetime.fromtimestamp(clock.now, UTC)
    article = Article(
        id="a1",
        feed=FeedRef(name="wire", url="https://news.example.org/rss"),
        title="China's central bank cuts reserve ratio",
        summary="The PBoC eased policy on Friday.",
        link="https://news.example.org/c1",
        published=when,
        fetched_at=when,
    )
    return Alert(
        id=alert_id(article.id, "hook"),
        destination="hook",
        article=article,
        matches=[WatchlistMatch(watchlist="china", terms=["China"])],
        created_at=when,
    )


@dataclass
class Rig:
    store: Store
    receiver: WebhookReceiver
    alert: Alert


@asynccontextmanager
async def delivering(
    tmp_path: Path, clock: FakeClock, rand: Callable[[], float], policy: DeliveryPolicy = POLICY
) -> AsyncIterator[Rig]:
    """One alert in the outbox and the notifier's worker running on it until the block ends."""
    store = await Store.open(tmp_path / "newsalert.db", clock)
    async with httpx.AsyncClient() as client, WebhookReceiver(WEBHOOK_SECRET) as receiver:
        hook = WebhookDestination(
            "hook",
            receiver.url,
            WEBHOOK_SECRET,
            client,
            timeout=policy.timeout,
            allow_private=True,
            clock=clock,
        )
        notifier = Notifier(
            store.outbox, {"hook": hook}, {"hook": policy}, Metrics(), clock=clock, rand=rand
        )
        alert = make_alert(clock)
        await store.outbox.enqueue([(alert.id, "hook", alert.model_dump_json().encode())])
        stop = asyncio.Event()
        worker = asyncio.create_task(notifier.run(stop))
        try:
            yield Rig(store, receiver, alert)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 10)
            await store.close()


async def arrivals(receiver: WebhookReceiver, count: int) -> list[Received]:
    return await receiver.wait_for(count, within=5.0)


async def attempt_recorded(store: Store, clock: FakeClock) -> float | None:
    """Wait until the notifier has recorded the attempt the receiver just answered: the alert
    is due again later than now, or no longer pending (delivered or dead). Its next attempt
    time, or None."""
    for _ in range(100):
        due = await store.outbox.next_due_at("hook")
        if due is None or due > clock.now:
            return due
        await asyncio.sleep(0.05)
    raise AssertionError("the notifier never recorded the failed attempt")


async def no_new_arrival(receiver: WebhookReceiver, count: int) -> None:
    await asyncio.sleep(LOOK)
    assert len(receiver.received) == count, "retried before its time"


async def test_retries_come_at_the_backoff_drawn_from_the_random_source(tmp_path: Path) -> None:
    clock = FakeClock()
    expected = random.Random(SEED)
    async with delivering(tmp_path, clock, random.Random(SEED).random) as rig:
        rig.receiver.script([Reply(503, "busy"), Reply(502, "bad gateway")])
        await arrivals(rig.receiver, 1)
        for failed in (1, 2):
            wait = backoff_delay(failed, POLICY, expected.random())
            # Equal jitter: at least half the step, 20 s then 40 s.
            assert 10 * failed <= wait < 20 * failed
            due = clock.now + wait  # as the notifier computes it, to the last bit
            assert await attempt_recorded(rig.store, clock) == due
            clock.set(due - 0.5)
            await no_new_arrival(rig.receiver, failed)
            clock.set(due)
            await arrivals(rig.receiver, failed + 1)

        received = await arrivals(rig.receiver, 3)
        assert [r.status for r in received] == [503, 502, 204]
        # One alert, retried under one id, so the receiver can drop repeats; every try signed.
        assert {r.headers["webhook-id"] for r in received} == {rig.alert.id}
        assert all(r.verified for r in received)
        assert received[-1].json()["data"]["article"]["title"] == rig.alert.article.title
        await no_new_arrival(rig.receiver, 3)
        assert await rig.store.outbox.pending_count() == 0


async def test_a_retry_after_longer_than_the_backoff_holds_the_retry_that_long(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    expected = random.Random(SEED)
    async with delivering(tmp_path, clock, random.Random(SEED).random) as rig:
        rig.receiver.script([Reply(429, "slow down", {"retry-after": "45"})])
        await arrivals(rig.receiver, 1)
        backoff = backoff_delay(1, POLICY, expected.random())
        assert backoff < 45  # so it is the receiver's wait that counts
        due = clock.now + 45
        assert await attempt_recorded(rig.store, clock) == due
        clock.set(due - 0.5)
        await no_new_arrival(rig.receiver, 1)
        clock.set(due)
        [_, delivered] = await arrivals(rig.receiver, 2)
        assert delivered.status == 204
        assert await attempt_recorded(rig.store, clock) is None
        assert await rig.store.outbox.pending_count() == 0


async def test_exhausted_retries_become_one_dead_letter(tmp_path: Path) -> None:
    clock = FakeClock()
    expected = random.Random(SEED)
    policy = DeliveryPolicy(max_attempts=2, initial_backoff=20.0, max_backoff=60.0, timeout=2.0)
    async with delivering(tmp_path, clock, random.Random(SEED).random, policy) as rig:
        rig.receiver.script([Reply(503), Reply(503), Reply(503)])
        await arrivals(rig.receiver, 1)
        due = clock.now + backoff_delay(1, policy, expected.random())
        assert await attempt_recorded(rig.store, clock) == due
        clock.set(due)
        await arrivals(rig.receiver, 2)
        assert await attempt_recorded(rig.store, clock) is None
        clock.advance(policy.max_backoff)
        await no_new_arrival(rig.receiver, 2)
        [dead] = await rig.store.outbox.dead_letters("hook")
        assert (dead.alert_id, dead.attempts) == (rig.alert.id, 2)
        assert dead.last_error is not None and "503" in dead.last_error
        assert await rig.store.outbox.pending_count() == 0
