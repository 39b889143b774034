"""The hold step and digest sender on a real SQLite store, with a clock passed in: singles up to
the flood limit, the rest held; the digest sent once when its window ends, and never again after
the store is closed and reopened (a restart), nor for a redelivered alert."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

from consumers.delivery import DeliveryPolicy
from consumers.destinations.console import ConsoleDestination
from consumers.digests import DigestSender, HoldingIntake
from consumers.holding import Flood, HoldPolicy
from consumers.notifier import Notifier
from consumers.story_desk import StoryDesk
from service.bus.base import Record
from service.metrics import Metrics
from service.models import Alert, Article, FeedRef, WatchlistMatch
from service.store import Store

T0 = 1_780_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def record(n: int, watchlist: str = "china") -> Record:
    when = datetime.fromtimestamp(T0, UTC)
    alert = Alert(
        id=f"alert{n}",
        destination="console",
        article=Article(
            id=f"a{n}",
            feed=FeedRef(name="wire", url="https://example.org/rss"),
            title=f"story {n}",
            summary="",
            link=f"https://example.org/{n}",
            published=when,
            fetched_at=when,
        ),
        matches=[WatchlistMatch(watchlist=watchlist, terms=[])],
        created_at=when,
    )
    return Record("alerts", alert.id, alert.model_dump_json().encode(), 0, n)


async def rig(
    path: Path, clock: Clock, out: io.StringIO
) -> tuple[Store, HoldingIntake, DigestSender]:
    store = await Store.open(path, clock)
    metrics = Metrics()
    console = ConsoleDestination("console", out)
    notifier = Notifier(store.outbox, {"console": console}, {}, metrics, clock=clock)
    intake = HoldingIntake(
        store.held,
        notifier,
        StoryDesk.ungrouped(metrics),
        {"console": HoldPolicy(flood=Flood(max=2, per=10))},
        {"urgent"},
        metrics,
        clock=clock,
    )
    sender = DigestSender(
        store.held, {"console": console}, {"console": DeliveryPolicy()}, metrics, clock=clock
    )
    return store, intake, sender


async def test_flood_holds_then_one_digest_across_restart(tmp_path: Path) -> None:
    clock = Clock()
    out = io.StringIO()
    db = tmp_path / "newsalert.db"
    store, intake, sender = await rig(db, clock, out)
    await intake.handle([record(n) for n in range(5)] + [record(9, "urgent")])
    assert await store.outbox.pending_count() == 3  # two singles and the priority alert
    assert (await store.held.held_count()) == {"console": 3}
    stop = asyncio.Event()
    await sender.run(stop, until_idle=True)  # the window has not ended: nothing sent
    assert out.getvalue() == ""
    await store.close()

    # Restart after the window ended: the digest is due at once, and sent once.
    clock.now = T0 + 11
    store, intake, sender = await rig(db, clock, out)
    assert (await store.held.held_count()) == {"console": 3}
    await sender.run(stop, until_idle=True)
    assert out.getvalue().count("digest for console: 3 alerts") == 1
    assert (await store.held.held_count()) == {}
    [(_, status, alerts)] = await store.held.digests_recorded()
    assert (status, alerts) == ("delivered", 3)
    await store.close()

    store, intake, sender = await rig(db, clock, out)
    await intake.handle([record(3)])  # a redelivered alert that went out in the digest
    await sender.run(stop, until_idle=True)
    assert out.getvalue().count("digest for") == 1
    assert (await store.held.held_count()) == {}
    # The limit has freed up: the next new alert is a single again.
    await intake.handle([record(20)])
    assert (await store.held.held_count()) == {}
    await store.close()
