"""The real `MatcherStage` and watchlist holder, with their clock injected, between the real
embedded bus and a real notifier delivering to a local signed webhook receiver.

What an operator sees: an edit to the watchlists takes effect from the next batch (the new
watchlist alerts, the removed one does not), the alert carries the time the stage made it,
/readyz tells the running version and when it was loaded, and an edit that cannot be parsed
is refused in one sentence naming the watchlist while the running rules keep alerting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from consumers.delivery import DeliveryPolicy
from consumers.destinations.webhook import WebhookDestination
from consumers.matcher import MatcherStage
from consumers.notifier import Notifier, OutboxIntake
from consumers.reload import MatcherHolder
from consumers.story_desk import StoryDesk
from service.bus.base import ALERTS, ARTICLES
from service.bus.embedded import EmbeddedBus
from service.metrics import Metrics
from service.models import Article, FeedRef
from service.settings import load_settings
from service.stage import consume
from service.store import Store
from tests.support.cli import WEBHOOK_SECRET
from tests.support.clock import FakeClock
from tests.support.receivers import WebhookReceiver


def write_config(path: Path, watchlists: str, hook_url: str) -> Path:
    path.write_text(
        "feeds:\n  - name: wire\n    url: https://news.example.org/rss\n"
        "network:\n  allow_private: true\n"
        "destinations:\n"
        f"  - name: hook\n    type: webhook\n    url: {hook_url}\n    secret: {WEBHOOK_SECRET}\n"
        f"watchlists:\n{watchlists}",
        encoding="utf-8",
    )
    return path


CHINA_ONLY = "  - name: china\n    query: 'China OR Beijing'\n    destinations: [hook]\n"
ICO_ONLY = "  - name: ico\n    query: '`ICO` OR \"token sale\"'\n    destinations: [hook]\n"
UNPARSEABLE = "  - name: broken\n    query: 'China AND (yuan'\n    destinations: [hook]\n"


def article(n: int, title: str, clock: FakeClock) -> tuple[str, bytes]:
    when = clock.datetime()
    item = Article(
        id=f"a{n}",
        feed=FeedRef(name="wire", url="https://news.example.org/rss"),
        title=title,
        summary="",
        link=f"https://news.example.org/{n}",
        published=when,
        fetched_at=when,
    )
    return item.id, item.model_dump_json().encode()


@dataclass
class Pipeline:
    """Matcher stage, alert intake and notifier over one embedded store, as embedded mode runs them."""

    bus: EmbeddedBus
    holder: MatcherHolder
    stage: MatcherStage
    intake: OutboxIntake
    notifier: Notifier

    async def carry(self, *articles: tuple[str, bytes]) -> None:
        """Publish `articles`, then match, take in and deliver until nothing is left to do."""
        stop = asyncio.Event()
        await self.bus.publish(ARTICLES, list(articles))
        await consume(
            await self.bus.consumer(ARTICLES, "matcher"), self.stage.handle, stop, until_idle=True
        )
        await consume(
            await self.bus.consumer(ALERTS, "notifier"), self.intake.handle, stop, until_idle=True
        )
        await self.notifier.run(stop, until_empty=True)


@asynccontextmanager
async def pipeline(tmp_path: Path, config: Path, clock: FakeClock) -> AsyncIterator[Pipeline]:
    settings = load_settings(config, {})
    store = await Store.open(tmp_path / "newsalert.db", clock)
    bus = EmbeddedBus(store.bus)
    metrics = Metrics()
    holder = MatcherHolder(
        settings.watchlists,
        concepts=settings.concepts,
        destinations=[d.name for d in settings.destinations],
        clock=clock.datetime,
    )
    [hook_cfg] = settings.destinations
    assert hook_cfg.url is not None
    async with httpx.AsyncClient() as client:
        hook = WebhookDestination(
            "hook",
            hook_cfg.url.get_secret_value(),
            WEBHOOK_SECRET,
            client,
            timeout=2.0,
            allow_private=True,
            clock=clock,
        )
        notifier = Notifier(
            store.outbox, {"hook": hook}, {"hook": DeliveryPolicy()}, metrics, clock=clock
        )
        try:
            yield Pipeline(
                bus,
                holder,
                MatcherStage(holder, bus, metrics, clock=clock.datetime),
                OutboxIntake(store.outbox, notifier, StoryDesk.ungrouped(metrics)),
                notifier,
            )
        finally:
            await bus.close()
            await store.close()


def delivered(receiver: WebhookReceiver) -> list[tuple[str, list[str], datetime]]:
    """(title, watchlists, created_at) of every alert the receiver accepted, in order."""
    out = []
    for request in receiver.received:
        assert request.verified, "an alert arrived unsigned or badly signed"
        data = request.json()["data"]
        out.append(
            (
                data["article"]["title"],
                [m["watchlist"] for m in data["matches"]],
                datetime.fromisoformat(data["created_at"]).astimezone(UTC),
            )
        )
    return out


async def test_an_edit_takes_effect_from_the_next_batch_and_a_bad_one_is_refused(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    with WebhookReceiver(WEBHOOK_SECRET) as receiver:
        config = write_config(tmp_path / "newsalert.yaml", CHINA_ONLY, receiver.url)
        async with pipeline(tmp_path, config, clock) as p:
            started = clock.datetime()
            await p.carry(
                article(1, "Beijing weighs new stimulus", clock),
                article(2, "Regulators probe new ICO", clock),
            )
            assert delivered(receiver) == [("Beijing weighs new stimulus", ["china"], started)]
            assert p.stage.readiness() == "ok: watchlists version 1"
            assert p.holder.loaded_at == started

            # An operator swaps the watchlist a minute later.
            clock.advance(60)
            write_config(config, ICO_ONLY, receiver.url)
            outcome = await asyncio.to_thread(p.holder.reload_from, config, {})
            assert (outcome.ok, outcome.changed, outcome.version) == (True, True, 2)
            assert p.holder.loaded_at == clock.datetime()
            reloaded = clock.datetime()

            await p.carry(
                article(3, "China cuts rates again", clock),
                article(4, "A token sale raises millions", clock),
            )
            assert delivered(receiver)[1:] == [("A token sale raises millions", ["ico"], reloaded)]
            assert p.stage.readiness() == "ok: watchlists version 2"

            # A broken edit is refused with one sentence; the running rules keep alerting.
            clock.advance(60)
            write_config(config, ICO_ONLY + UNPARSEABLE, receiver.url)
            refused = await asyncio.to_thread(p.holder.reload_from, config, {})
            assert (refused.ok, refused.version) == (False, 2)
            [error] = refused.errors
            assert "broken" in error and "\n" not in error
            assert "refused" in p.stage.readiness() and "version 2" in p.stage.readiness()
            assert p.holder.loaded_at == reloaded

            await p.carry(article(5, "Second ICO this week", clock))
            assert delivered(receiver)[2:] == [("Second ICO this week", ["ico"], clock.datetime())]
