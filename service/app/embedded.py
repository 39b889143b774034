"""The whole pipeline in one process on the embedded store: poller, matcher and notifier.

`run_once` polls every feed once and delivers everything that results; `run_forever` keeps
all stages running until SIGTERM/SIGINT, then stops intake, lets in-flight work finish within
a deadline, and closes the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from consumers.digests import DigestSender, HoldingIntake
from consumers.health_alerts import HealthAlertSender
from consumers.matcher import MatcherStage
from consumers.notifier import Notifier
from consumers.reload import MatcherHolder, watch_config
from consumers.story_desk import SqliteStoryLog
from service.app.config import parsed_queries
from service.app.destinations import (
    build_destinations,
    hold_policies_of,
    policies_of,
    priority_watchlists,
    story_desk,
)
from service.bus.base import ALERTS, ARTICLES
from service.bus.embedded import EmbeddedBus
from service.feed_health import HealthPolicy
from service.feed_watch import FeedHealthMonitor
from service.fetch import Fetcher, FetchLimits, make_client
from service.health import HealthServer
from service.metrics import Metrics
from service.poller import Poller
from service.settings import Settings
from service.stage import consume
from service.store import Store

log = structlog.get_logger(__name__)

DB_NAME = "newsalert.db"
DRAIN_DEADLINE = 10.0
PRUNE_EVERY = 3600.0
BUS_RETENTION = 86400.0


def fetch_limits(settings: Settings) -> FetchLimits:
    p = settings.polling
    return FetchLimits(
        timeout=p.timeout,
        max_body_bytes=p.max_body,
        max_redirects=p.max_redirects,
        per_host=p.per_host,
        user_agent=p.user_agent,
        ca_bundle=settings.network.ca_bundle,
    )


@dataclass
class Embedded:
    settings: Settings
    store: Store
    bus: EmbeddedBus
    metrics: Metrics
    poller: Poller
    matcher: MatcherStage
    notifier: Notifier
    intake: HoldingIntake
    digests: DigestSender
    health_alerts: HealthAlertSender


def feed_health_monitor(
    settings: Settings, store: Store, metrics: Metrics
) -> FeedHealthMonitor | None:
    """Feed health alerts, when `feed_health.destinations` names any."""
    cfg = settings.feed_health
    if not cfg.destinations:
        return None
    names = [f.name for f in settings.feeds]
    return FeedHealthMonitor(
        store.health, names, cfg.destinations, health_policy_of(settings), metrics
    )


def health_policy_of(settings: Settings) -> Callable[[str], HealthPolicy]:
    """Each feed's failing and stale thresholds (a feed may override `stale_after`)."""
    cfg = settings.feed_health
    feeds = {f.name: f for f in settings.feeds}

    def policy_of(name: str) -> HealthPolicy:
        feed = feeds.get(name)
        stale = settings.feed_stale_after(feed) if feed is not None else cfg.stale_after
        return HealthPolicy(cfg.failing_after, cfg.failing_for, stale)

    return policy_of


def matcher_holder(settings: Settings) -> MatcherHolder:
    return MatcherHolder(
        settings.watchlists,
        concepts=settings.concepts,
        destinations=[d.name for d in settings.destinations],
        parsed=parsed_queries(settings),
    )


@asynccontextmanager
async def open_embedded(settings: Settings) -> AsyncIterator[Embedded]:
    metrics = Metrics()
    store = await Store.open(settings.state_dir / DB_NAME)
    client = make_client(fetch_limits(settings))
    bus = EmbeddedBus(store.bus)
    destinations = build_destinations(settings, client, store.slack_messages)
    notifier = Notifier(store.outbox, destinations, policies_of(settings), metrics)
    stories = SqliteStoryLog(store.stories)
    desk = story_desk(settings, stories, metrics)
    desk.restore(await stories.load(time.time() - settings.stories.window))
    try:
        yield Embedded(
            settings=settings,
            store=store,
            bus=bus,
            metrics=metrics,
            poller=Poller(
                settings,
                store.feeds,
                Fetcher(client, fetch_limits(settings)),
                bus,
                metrics,
                health=feed_health_monitor(settings, store, metrics),
            ),
            matcher=MatcherStage(matcher_holder(settings), bus, metrics),
            notifier=notifier,
            # The hold step before sending: flood limits, digests, quiet hours.
            intake=HoldingIntake(
                store.held,
                notifier,
                desk,
                hold_policies_of(settings),
                priority_watchlists(settings),
                metrics,
            ),
            digests=DigestSender(store.held, destinations, policies_of(settings), metrics),
            health_alerts=HealthAlertSender(
                store.health,
                {n: destinations[n] for n in settings.feed_health.destinations},
                policies_of(settings),
            ),
        )
    finally:
        await bus.close()
        await client.aclose()
        await store.close()


async def run_once(settings: Settings) -> None:
    """Poll every feed once, match, and deliver until each alert is delivered or dead-lettered."""
    stop = asyncio.Event()
    async with open_embedded(settings) as app:
        outcomes = await app.poller.poll_all(settings.feeds)
        matched = await consume(
            await app.bus.consumer(ARTICLES, "matcher"), app.matcher.handle, stop, until_idle=True
        )
        taken = await consume(
            await app.bus.consumer(ALERTS, "notifier"), app.intake.handle, stop, until_idle=True
        )
        await app.notifier.run(stop, until_empty=True)
        await app.digests.run(stop, until_idle=True)  # digests due now; later windows stay held
        await app.health_alerts.run(stop, until_idle=True)
        failed = [o.feed for o in outcomes if o.status == "error"]
        log.info(
            "run_once_finished",
            feeds=len(outcomes),
            feeds_failed=len(failed),
            articles=matched,
            alerts=taken,
            dead_letters=len(await app.store.outbox.dead_letters()),
        )


async def run_forever(
    settings: Settings,
    stop: asyncio.Event,
    *,
    config_path: Path | None = None,
    reload: asyncio.Event | None = None,
) -> None:
    """Run every stage until `stop`; a stage that crashes stops the others and is re-raised.

    With `config_path`, an edit of its watchlists (or setting `reload`, on SIGHUP) recompiles
    and swaps them without a restart.
    """
    async with open_embedded(settings) as app:
        health = HealthServer(
            settings.health.host,
            settings.health.port,
            app.metrics,
            lambda: {"store": "ok", "watchlists": app.matcher.readiness()},
        )
        if settings.health.port:
            await health.start()
        intake_stop = asyncio.Event()  # stop polling and taking in; deliveries in flight finish
        articles = await app.bus.consumer(ARTICLES, "matcher")
        alerts = await app.bus.consumer(ALERTS, "notifier")
        tasks = [
            asyncio.create_task(app.poller.run(settings.feeds, intake_stop), name="poller"),
            asyncio.create_task(consume(articles, app.matcher.handle, intake_stop), name="matcher"),
            asyncio.create_task(consume(alerts, app.intake.handle, intake_stop), name="intake"),
            asyncio.create_task(app.notifier.run(intake_stop), name="notifier"),
            asyncio.create_task(app.digests.run(intake_stop), name="digests"),
            asyncio.create_task(app.health_alerts.run(intake_stop), name="feed-health"),
            asyncio.create_task(_maintain(app, intake_stop), name="maintenance"),
        ]
        if config_path is not None:
            tasks.append(
                asyncio.create_task(
                    watch_config(config_path, app.matcher.holder, intake_stop, wake=reload),
                    name="watchlists-reload",
                )
            )
        log.info(
            "service_started",
            mode="embedded",
            feeds=len(settings.feeds),
            watchlists=len(settings.watchlists),
            destinations=len(settings.destinations),
            store=str(app.store.path),
        )
        try:
            await stop_or_crash(tasks, stop, intake_stop)
        finally:
            await health.close()
            await articles.close()
            await alerts.close()
        log.info("service_stopped")


async def stop_or_crash(
    tasks: Sequence[asyncio.Task[Any]],
    stop: asyncio.Event,
    intake_stop: asyncio.Event,
) -> None:
    """Wait for `stop` or the first task to end; then drain the rest within the deadline."""
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if stop.is_set():
        log.info("service_stopping", deadline_s=DRAIN_DEADLINE)
    intake_stop.set()
    _, pending = await asyncio.wait(tasks, timeout=DRAIN_DEADLINE)
    if pending:
        log.warning(
            "drain_deadline_passed",
            deadline_s=DRAIN_DEADLINE,
            still_busy=[t.get_name() for t in pending],
        )
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
    if not stop.is_set():
        raise RuntimeError(
            "a stage ended on its own; stopping so the supervisor restarts the service"
        )


async def _maintain(app: Embedded, stop: asyncio.Event) -> None:
    """Refresh gauges every few seconds and prune old state every hour."""
    last_prune = 0.0
    while not stop.is_set():
        app.metrics.outbox_pending.set(await app.store.outbox.pending_count())
        holding = await app.store.held.held_count()
        for dest in app.settings.destinations:
            app.metrics.alerts_holding.labels(dest.name).set(holding.get(dest.name, 0))
        app.metrics.consumer_lag.labels(ARTICLES).set(
            await app.store.bus.backlog(ARTICLES, "matcher")
        )
        app.metrics.consumer_lag.labels(ALERTS).set(await app.store.bus.backlog(ALERTS, "notifier"))
        now = time.time()
        if now - last_prune > PRUNE_EVERY:
            retention = app.settings.polling.seen_retention
            removed = await app.store.prune(
                seen_before=now - retention,
                consumed_before=now - BUS_RETENTION,
                delivered_before=now - retention,
                stories_before=now - app.settings.stories.window,
            )
            last_prune = now
            log.info("store_pruned", removed=removed)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=5.0)
