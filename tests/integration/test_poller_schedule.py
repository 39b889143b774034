"""The real `Poller` against a real local feed server and a real SQLite store, with its clock and
random source injected: when each feed is polled next, as an operator would see it.

A healthy feed comes back after its interval give or take 10% (the jitter drawn from the
injected random source, so two feeds configured together do not poll in the same second); a
failing one backs off, never sooner than its Retry-After; and the running scheduler polls a
feed again only once the clock reaches that time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.app.embedded import fetch_limits
from service.bus.embedded import EmbeddedBus
from service.fetch import Fetcher, make_client
from service.metrics import Metrics
from service.poller import Poller
from service.settings import Settings, load_settings
from service.store import Store
from tests.support.clock import FakeClock
from tests.support.feed_server import FeedServer, Reply, conditional, sequence
from tests.support.sample_feeds import CHINA, ICO, rss

INTERVAL = 300.0  # polling.interval below: 5m
SEED = 20261202


def write_settings(tmp_path: Path, feeds: dict[str, str]) -> Settings:
    listed = "".join(f"  - name: {name}\n    url: {url}\n" for name, url in feeds.items())
    path = tmp_path / "newsalert.yaml"
    path.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        "network:\n  allow_private: true\n"
        "polling:\n  interval: 5m\n  backfill: all\n  timeout: 5s\n"
        f"feeds:\n{listed}"
        "watchlists:\n  - name: china\n    query: China\n    destinations: [console]\n"
        "destinations:\n  - name: console\n    type: console\n",
        encoding="utf-8",
    )
    return load_settings(path, {})


@dataclass
class Rig:
    settings: Settings
    store: Store
    poller: Poller


@asynccontextmanager
async def poller_rig(
    tmp_path: Path, feeds: dict[str, str], clock: FakeClock, rand: Callable[[], float]
) -> AsyncIterator[Rig]:
    """The poller as embedded mode wires it, on a real store and HTTP client."""
    settings = write_settings(tmp_path, feeds)
    store = await Store.open(tmp_path / "newsalert.db", clock)
    client = make_client(fetch_limits(settings))
    bus = EmbeddedBus(store.bus)
    fetcher = Fetcher(client, fetch_limits(settings))
    try:
        yield Rig(
            settings,
            store,
            Poller(settings, store.feeds, fetcher, bus, Metrics(), clock=clock, rand=rand),
        )
    finally:
        await bus.close()
        await client.aclose()
        await store.close()


def jittered(rand: float) -> float:
    """The documented schedule: the interval, spread by ±10% with `rand` in [0, 1)."""
    return INTERVAL * (1 + 0.1 * (2 * rand - 1))


async def test_next_poll_is_the_interval_with_jitter_from_the_random_source(
    tmp_path: Path,
) -> None:
    clock = FakeClock(1_800_000_000.0)
    draws = random.Random(SEED)
    expected = random.Random(SEED)  # the same sequence, to know what the poller drew
    with FeedServer() as server:
        urls = {
            name: server.route(f"/{name}.xml", conditional(rss([CHINA, ICO]), etag=f'"{name}1"'))
            for name in ("wire", "desk")
        }
        async with poller_rig(tmp_path, urls, clock, draws.random) as rig:
            [wire, desk] = rig.settings.feeds
            first = await rig.poller.poll_feed(wire)
            second = await rig.poller.poll_feed(desk)

            assert (first.status, first.published) == ("ok", 2)
            assert first.next_poll_at == pytest.approx(clock.start + jittered(expected.random()))
            assert second.next_poll_at == pytest.approx(clock.start + jittered(expected.random()))
            for outcome in (first, second):
                assert 0.9 * INTERVAL <= outcome.next_poll_at - clock.start <= 1.1 * INTERVAL
            # Polled in the same second, due apart: the jitter spreads feeds configured together.
            assert abs(first.next_poll_at - second.next_poll_at) > 1.0
            # The schedule is kept in the store, so a restart keeps it.
            saved = await rig.store.feeds.feed_state(wire.name, wire.url)
            assert saved.next_poll_at == pytest.approx(first.next_poll_at)

            # When it is due, the poll is conditional: 304, nothing new, the next time drawn again.
            clock.set(first.next_poll_at)
            again = await rig.poller.poll_feed(wire)
            assert (again.status, again.published) == ("not_modified", 0)
            assert again.next_poll_at == pytest.approx(clock.now + jittered(expected.random()))
            assert server.requests_to("/wire.xml")[-1].headers["if-none-match"] == '"wire1"'


async def test_a_failing_feed_backs_off_with_jitter_and_honours_retry_after(
    tmp_path: Path,
) -> None:
    clock = FakeClock(1_800_000_000.0)
    draws = random.Random(SEED)
    expected = random.Random(SEED)
    with FeedServer() as server:
        url = server.route(
            "/wire.xml",
            sequence(
                Reply(status=503),
                Reply(status=503),
                Reply(status=429, headers={"Retry-After": "900"}),
                Reply(body=rss([CHINA]), headers={"Content-Type": "application/rss+xml"}),
            ),
        )
        async with poller_rig(tmp_path, {"wire": url}, clock, draws.random) as rig:
            [wire] = rig.settings.feeds
            waits = []
            for _ in range(3):
                outcome = await rig.poller.poll_feed(wire)
                assert outcome.status == "error"
                waits.append(outcome.next_poll_at - clock.now)
                clock.set(outcome.next_poll_at)
            # Equal jitter over a doubling step that starts at a minute: [30, 60), then [60, 120).
            assert waits[0] == pytest.approx(60 * (0.5 + expected.random() / 2))
            assert waits[1] == pytest.approx(120 * (0.5 + expected.random() / 2))
            assert 30 <= waits[0] < 60 <= waits[1] < 120
            # The third failure's own backoff is at most 240 s; the server asked for 900.
            expected.random()
            assert waits[2] == pytest.approx(900)
            state = await rig.store.feeds.feed_state(wire.name, wire.url)
            assert state.consecutive_failures == 3
            assert state.last_error is not None and "429" in state.last_error

            recovered = await rig.poller.poll_feed(wire)
            assert (recovered.status, recovered.published) == ("ok", 1)
            assert recovered.next_poll_at == pytest.approx(clock.now + jittered(expected.random()))
            state = await rig.store.feeds.feed_state(wire.name, wire.url)
            assert (state.consecutive_failures, state.last_error) == (0, None)


async def test_the_scheduler_polls_again_only_when_the_clock_reaches_the_next_poll(
    tmp_path: Path,
) -> None:
    clock = FakeClock(1_800_000_000.0)
    expected = random.Random(SEED)
    with FeedServer() as server:
        url = server.route("/wire.xml", conditional(rss([CHINA]), etag='"v1"'))
        async with poller_rig(tmp_path, {"wire": url}, clock, random.Random(SEED).random) as rig:
            stop = asyncio.Event()
            running = asyncio.create_task(rig.poller.run(rig.settings.feeds, stop))
            try:
                # A feed never polled is due at once.
                await wait_for_requests(server, 1)
                due = clock.start + jittered(expected.random())
                # The scheduler looks at least once a second; give it a few looks at each time.
                clock.set(due - 1.0)
                await asyncio.sleep(2.5)
                assert len(server.requests_to("/wire.xml")) == 1, "polled before it was due"
                clock.set(due)
                await wait_for_requests(server, 2)
                assert server.requests_to("/wire.xml")[1].headers["if-none-match"] == '"v1"'
            finally:
                stop.set()
                await asyncio.wait_for(running, 10)
            state = await rig.store.feeds.feed_state("wire", url)
            assert state.next_poll_at == pytest.approx(due + jittered(expected.random()))


async def wait_for_requests(server: FeedServer, count: int, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while len(server.requests_to("/wire.xml")) < count:
        assert time.monotonic() < deadline, f"feed not fetched {count} time(s) in {within}s"
        await asyncio.sleep(0.05)
