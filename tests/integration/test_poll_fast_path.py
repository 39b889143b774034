"""The poller's shortcuts on a real local feed server and a real SQLite store.

A feed that ignores validators and sends the same body again is not parsed again (its polls
count as `unchanged`) and publishes nothing; when a story is added, exactly that story is
published, as the full parse of the document gives it; a store file written before the body
digest existed is upgraded in place.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from service.app.embedded import fetch_limits
from service.bus.base import ARTICLES
from service.bus.embedded import EmbeddedBus
from service.fetch import Fetcher, make_client
from service.metrics import Metrics
from service.models import Article, FeedRef
from service.parse import parse_feed
from service.poller import Poller
from service.settings import Settings
from service.settings.load import load_settings
from service.store import Store
from tests.support.feed_server import FeedServer, Reply
from tests.support.sample_feeds import Item, rss

pytestmark = pytest.mark.asyncio

STORIES = [Item(f"s{i}", f"Story number {i} about markets", f"Summary {i}") for i in range(10)]


def _settings(tmp_path: Path, url: str, backfill: str) -> Settings:
    path = tmp_path / "newsalert.yaml"
    config = {
        "state_dir": str(tmp_path / "state"),
        "network": {"allow_private": True},
        "polling": {"backfill": backfill},
        "feeds": [{"name": "wire", "url": url}],
        "watchlists": [{"name": "m", "query": "markets", "destinations": ["console"]}],
        "destinations": [{"name": "console", "type": "console"}],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return load_settings(path, {})


async def _published(bus: EmbeddedBus) -> list[Article]:
    consumer = await bus.consumer(ARTICLES, "test")
    records = await consumer.fetch(1000, 0.1)
    await consumer.commit(records)
    await consumer.close()
    return [Article.model_validate_json(r.value) for r in records]


def _polls(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "newsalert_feed_polls_total", {"feed": "wire", "outcome": outcome}
    )
    return value or 0.0


async def test_same_body_is_not_parsed_again_and_a_new_story_alone_is_published(
    tmp_path: Path,
) -> None:
    body = {"now": rss(STORIES)}
    with FeedServer() as server:
        url = server.route("/wire.xml", lambda _request: Reply(body=body["now"]))
        settings = _settings(tmp_path, url, "none")
        store = await Store.open(tmp_path / "state" / "newsalert.db")
        client = make_client(fetch_limits(settings))
        metrics = Metrics()
        bus = EmbeddedBus(store.bus)
        poller = Poller(
            settings, store.feeds, Fetcher(client, fetch_limits(settings)), bus, metrics
        )
        feed = settings.feeds[0]
        try:
            first = await poller.poll_feed(feed)  # backfill none: recorded, nothing published
            again = await poller.poll_feed(feed)
            assert (first.status, first.items, first.published) == ("ok", 10, 0)
            assert again.status == "not_modified"
            assert _polls(metrics, "unchanged") == 1
            assert await _published(bus) == []

            fresh = Item("s-new", "A new story about markets", "Fresh summary", hours_ago=0.1)
            body["now"] = rss([fresh, *STORIES])
            third = await poller.poll_feed(feed)
            assert (third.status, third.items, third.published) == ("ok", 11, 1)
            [article] = await _published(bus)
            full = parse_feed(
                body["now"], feed=FeedRef(name="wire", url=url), fetched_at=article.fetched_at
            )
            assert article == full.articles[0]
            assert article.title == "A new story about markets"
        finally:
            await bus.close()
            await client.aclose()
            await store.close()


async def test_a_store_written_before_the_body_digest_existed_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE feed_state (
                feed TEXT PRIMARY KEY, url TEXT NOT NULL, etag TEXT, last_modified TEXT,
                initialised INTEGER NOT NULL DEFAULT 0, last_polled_at REAL,
                last_success_at REAL, next_poll_at REAL NOT NULL DEFAULT 0,
                consecutive_failures INTEGER NOT NULL DEFAULT 0, last_error TEXT
            );
            INSERT INTO feed_state (feed, url, etag, initialised) VALUES ('wire', 'u', '"v1"', 1);
            """
        )
    store = await Store.open(path)
    try:
        state = await store.feeds.feed_state("wire", "u")
        assert (state.etag, state.initialised, state.body_hash) == ('"v1"', True, None)
        await store.feeds.save_feed_state(replace(state, body_hash="abc"), ["i1"])
        [saved] = await store.feeds.all_feed_states()
        assert saved.body_hash == "abc"
    finally:
        await store.close()
