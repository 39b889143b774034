"""The three stages over Kafka, one process per role (or all of them in one `run`).

Each role is its stage's loop plus a watchdog: a role that cannot reach the broker for longer
than `kafka.broker_timeout`, or whose loop stops making progress, ends the process non-zero so
that its supervisor (compose, Kubernetes, systemd) starts a fresh one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import structlog

from consumers.digests import DigestSender
from consumers.health_alerts import HealthAlertSender
from consumers.kafka_held import KafkaHeldLog, KafkaHoldStep
from consumers.kafka_intake import NotifierIntake, PartitionHandOver
from consumers.kafka_outbox import DeliveryLog, KafkaOutbox
from consumers.kafka_slack_messages import KafkaFirstMessages
from consumers.kafka_stories import KafkaStoryLog
from consumers.matcher import MatcherStage
from consumers.notifier import Notifier
from consumers.reload import watch_config
from service.app.destinations import (
    build_destinations,
    hold_policies_of,
    policies_of,
    priority_watchlists,
    story_desk,
)
from service.app.embedded import fetch_limits, health_policy_of, matcher_holder, stop_or_crash
from service.bus.base import ALERTS, ARTICLES
from service.bus.kafka import (
    KafkaBus,
    KafkaUnavailableError,
    make_consumer,
    start_client,
)
from service.errors import NewsalertError
from service.fetch import Fetcher, make_client
from service.health import HealthServer
from service.kafka_feed_health import KafkaFeedHealth
from service.kafka_feed_state import KafkaFeedStates
from service.metrics import Metrics
from service.poller import Poller
from service.settings import Settings
from service.stage import consume

log = structlog.get_logger(__name__)

ROLES = ("poller", "matcher", "notifier")
PROBE_EVERY = 2.0


class StalledError(NewsalertError):
    """A stage loop made no progress for too long (a stuck fetch, a wedged consumer)."""


class Watchdog:
    def __init__(self, broker_timeout: float, probe: Callable[[], Awaitable[object]]) -> None:
        self._broker_timeout = broker_timeout
        self._stall_after = max(60.0, 2 * broker_timeout)
        self._probe = probe
        self._last_ok = time.monotonic()
        self._watched: dict[str, Callable[[], float]] = {}
        self._details: dict[str, Callable[[], str]] = {}

    def watch(self, name: str, last_progress: Callable[[], float]) -> None:
        self._watched[name] = last_progress

    def detail(self, name: str, status: Callable[[], str]) -> None:
        """Another /readyz entry: "ok", "ok: details", or a one-line problem."""
        self._details[name] = status

    def readiness(self) -> dict[str, str]:
        now = time.monotonic()
        checks = {
            "broker": "ok"
            if now - self._last_ok < PROBE_EVERY * 3
            else f"unreachable for {now - self._last_ok:.0f}s"
        }
        for name, last in self._watched.items():
            idle = now - last()
            checks[name] = "ok" if idle < 30 else f"no progress for {idle:.0f}s"
        checks.update({name: status() for name, status in self._details.items()})
        return checks

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(self._probe(), timeout=min(5.0, self._broker_timeout / 2))
                self._last_ok = time.monotonic()
            except Exception as exc:  # any failure to get metadata means "broker not reachable"
                log.warning("kafka_broker_unreachable", error=type(exc).__name__)
            now = time.monotonic()
            if now - self._last_ok > self._broker_timeout:
                raise KafkaUnavailableError(
                    f"lost the Kafka broker for more than {self._broker_timeout:g}s; exiting so "
                    "that the supervisor restarts this process"
                )
            for name, last in self._watched.items():
                if now - last() > self._stall_after:
                    raise StalledError(f"the {name} made no progress for {self._stall_after:g}s")
            await asyncio.sleep(PROBE_EVERY)


@dataclass
class _Role:
    """What every role's set-up needs; `start` registers a client to close at shutdown."""

    settings: Settings
    bus: KafkaBus
    client: httpx.AsyncClient
    metrics: Metrics
    watchdog: Watchdog
    stack: AsyncExitStack
    stop: asyncio.Event
    config_path: Path | None
    reload: asyncio.Event | None

    async def start(
        self, start: Callable[[], Awaitable[object]], stop: Callable[[], Awaitable[object]]
    ) -> None:
        await start()
        self.stack.push_async_callback(closing, stop)


Work = list[Coroutine[Any, Any, object]]


async def run_roles(
    settings: Settings,
    roles: set[str],
    stop: asyncio.Event,
    *,
    config_path: Path | None = None,
    reload: asyncio.Event | None = None,
) -> None:
    """Run the given roles until `stop`; `config_path` and `reload` as in `run_forever`."""
    assert settings.kafka is not None
    metrics = Metrics()
    intake_stop = asyncio.Event()
    async with AsyncExitStack() as stack:
        bus = await KafkaBus.open(settings.kafka)
        stack.push_async_callback(closing, bus.close)
        client = make_client(fetch_limits(settings))
        stack.push_async_callback(closing, client.aclose)
        watchdog = Watchdog(settings.kafka.broker_timeout, bus.producer.client.fetch_all_metadata)
        role = _Role(
            settings, bus, client, metrics, watchdog, stack, intake_stop, config_path, reload
        )
        work: Work = []
        for name, build in (("poller", _poller), ("matcher", _matcher), ("notifier", _notifier)):
            if name in roles:
                work += await build(role)
        health = HealthServer(
            settings.health.host, settings.health.port, metrics, watchdog.readiness
        )
        if settings.health.port:
            await health.start()
        stack.push_async_callback(closing, health.close)
        tasks = [asyncio.create_task(c) for c in work]
        tasks.append(asyncio.create_task(watchdog.run(intake_stop), name="watchdog"))
        log.info(
            "service_started",
            mode="kafka",
            roles=sorted(roles),
            topic_prefix=settings.kafka.topic_prefix,
        )
        await stop_or_crash(tasks, stop, intake_stop)
    log.info("service_stopped")


async def closing(close: Callable[[], Awaitable[object]]) -> None:
    """Close one client at shutdown; after a lost broker, a failing close must not hide why."""
    try:
        await asyncio.wait_for(close(), timeout=10.0)
    except (Exception, asyncio.CancelledError) as exc:
        task = asyncio.current_task()
        if isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling():
            raise  # we are being cancelled ourselves: let it through
        log.warning("client_close_failed", error=type(exc).__name__)


async def _poller(role: _Role) -> Work:
    settings = role.settings
    states = KafkaFeedStates(
        role.bus, settings.feeds, seen_retention=settings.polling.seen_retention
    )
    fetcher = Fetcher(role.client, fetch_limits(settings))
    health, work = await _feed_health(role, states)
    poller = Poller(settings, states, fetcher, role.bus, role.metrics, health=health)

    async def finish_polls(names: list[str]) -> None:
        await poller.wait_for(names, timeout=settings.polling.timeout + 5)

    states.before_revoke = finish_polls
    await role.start(states.start, states.stop)
    role.watchdog.watch("poller", lambda: states.last_progress)
    return [states.follow(role.stop), poller.run(states.owned, role.stop), *work]


async def _feed_health(role: _Role, states: KafkaFeedStates) -> tuple[KafkaFeedHealth | None, Work]:
    """Feed health alerts, when `feed_health.destinations` names any: each poller observes and
    alerts on the feeds it owns; the owner of feeds partition 0 keeps the storm."""
    settings = role.settings
    names = settings.feed_health.destinations
    if not names:
        return None, []
    health = KafkaFeedHealth(
        role.bus,
        [f.name for f in settings.feeds],
        names,
        health_policy_of(settings),
        states.owns,
        role.metrics,
    )
    await role.start(health.start, health.stop)
    destinations = build_destinations(settings, role.client)
    sender = HealthAlertSender(health, {n: destinations[n] for n in names}, policies_of(settings))
    return health, [health.follow(role.stop), sender.run(role.stop)]


async def _matcher(role: _Role) -> Work:
    stage = MatcherStage(matcher_holder(role.settings), role.bus, role.metrics)
    consumer = await role.bus.consumer(ARTICLES, "matcher")
    role.watchdog.watch("matcher", lambda: consumer.last_fetch)
    role.watchdog.detail("watchlists", stage.readiness)
    work: Work = [consume(consumer, stage.handle, role.stop)]
    if role.config_path is not None:
        work.append(watch_config(role.config_path, stage.holder, role.stop, wake=role.reload))
    return work


async def _notifier(role: _Role) -> Work:
    deliveries = DeliveryLog(role.bus, remember=role.bus.cfg.remembered_outcomes)
    await role.start(deliveries.start, deliveries.stop)
    stories = KafkaStoryLog(role.bus)
    await role.start(stories.start, stories.stop)
    desk = story_desk(role.settings, stories, role.metrics)
    work: Work = []
    first_messages = None
    if any(d.app_mode and d.takes_story_updates for d in role.settings.destinations):
        # Slack app mode threads or edits: where each story's first message went.
        first_messages = KafkaFirstMessages(role.bus)
        await role.start(first_messages.start, first_messages.stop)
        work.append(first_messages.follow(role.stop))
    destinations = build_destinations(role.settings, role.client, first_messages)
    policies = policies_of(role.settings)
    # Flood limits, digests and quiet hours: held alerts live on the held topic.
    held = KafkaHeldLog(role.bus, deliveries, role.metrics, destinations)
    await role.start(held.start, held.stop)
    holding = KafkaHoldStep(
        held, hold_policies_of(role.settings), priority_watchlists(role.settings), role.metrics
    )
    outbox = KafkaOutbox(role.bus, deliveries, destinations, desk, holding=holding)
    notifier = Notifier(outbox, destinations, policies, role.metrics)
    digests = DigestSender(held, destinations, policies, role.metrics)
    consumer = make_consumer(role.bus.cfg, "notifier")
    consumer.subscribe(
        [role.bus.topic(ALERTS)],
        listener=PartitionHandOver(outbox, deliveries, stories, consumer, held),
    )
    await role.start(lambda: start_client(consumer, role.bus.cfg), consumer.stop)
    intake = NotifierIntake(consumer, outbox, notifier)
    role.watchdog.watch("notifier", lambda: intake.last_progress)
    return [
        *work,
        deliveries.follow(role.stop),
        stories.follow(desk, role.stop),
        held.follow(role.stop),
        intake.run(role.stop),
        notifier.run(role.stop),
        digests.run(role.stop),
    ]
