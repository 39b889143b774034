"""The poller's health step on a real SQLite store: most feeds failing at once queue one
"feeds failing" alert; reopening the store (a restart) repeats nothing and the recovery closes it."""

from __future__ import annotations

import json
from pathlib import Path

from service.feed_health import HealthPolicy, PollResult
from service.feed_watch import FeedHealthMonitor
from service.metrics import Metrics
from service.store import Store

FEEDS = [f"f{i}" for i in range(6)]
DOWN = PollResult(ok=False, error="DNS lookup failed", next_poll_at=100.0)


async def queued(store: Store) -> list[dict[str, object]]:
    return [json.loads(r.payload) for r in await store.health.due("ops", 1e12)]


def monitor(store: Store, metrics: Metrics) -> FeedHealthMonitor:
    return FeedHealthMonitor(store.health, FEEDS, ["ops"], lambda _: HealthPolicy(2, 3600), metrics)


async def test_storm_once_across_restart(tmp_path: Path) -> None:
    db = tmp_path / "newsalert.db"
    store = await Store.open(db)
    metrics = Metrics()
    watch = monitor(store, metrics)
    for now in (1.0, 2.0):
        for feed in FEEDS:
            await watch.observe(feed, DOWN, now)
    alerts = await queued(store)
    assert [(a["type"], a["feed"], len(a["feeds"])) for a in alerts] == [  # type: ignore[arg-type]
        ("newsalert.feed.failing", None, 6)
    ]
    assert metrics.feeds_by_health.labels("failing")._value.get() == 6
    await store.close()

    store = await Store.open(db)
    watch = monitor(store, Metrics())
    await watch.observe("f0", DOWN, 3.0)  # still failing: nothing new
    assert len(await queued(store)) == 1
    for feed in FEEDS:
        await watch.observe(feed, PollResult(ok=True), 10.0)
    types = [(a["type"], a["feed"]) for a in await queued(store)]
    # One recovery closes the storm once at most half still fail; it names those (f3-f5),
    # and each of them says so when it is back.
    assert types == [
        ("newsalert.feed.failing", None),
        ("newsalert.feed.recovered", None),
        ("newsalert.feed.recovered", "f3"),
        ("newsalert.feed.recovered", "f4"),
        ("newsalert.feed.recovered", "f5"),
    ]
    await store.close()
