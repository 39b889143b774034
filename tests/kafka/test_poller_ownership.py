"""Two pollers share 50 feeds through Kafka's group assignment: each feed is fetched by one of
them at a time; when one stops, its feeds move to the other, which neither re-alerts old items
nor skips new ones. The feed server tells the pollers apart by their User-Agent."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.support.broker import kafka_section, read_topic
from tests.support.processes import Stage
from tests.support.rig import pipeline_rig, report, wait_delivered, wait_until
from tests.support.story_feeds import Fetch, Stream

FEEDS = 50
INTERVAL_S = 1.0
AGENT_A = "newsalert-test poller-a"
AGENT_B = "newsalert-test poller-b"
DESTINATIONS = ("audit",)
# How long a steady state is watched, and how long a rebalance may take to settle first
# (aiokafka members notice a rebalance at their next heartbeat, every 3 s by default).
WINDOW_S = 5.0
SETTLE_S = 4.0


def owners(fetches: Sequence[Fetch]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for fetch in fetches:
        found[fetch.feed].add(fetch.agent)
    return found


def shared_windows(fetches: Sequence[Fetch], origin: float) -> list[tuple[str, int]]:
    """(feed, window) for every interval window [origin + k*I, origin + (k+1)*I) in which more
    than one poller fetched the same feed."""
    agents: dict[tuple[str, int], set[str]] = defaultdict(set)
    for fetch in fetches:
        agents[fetch.feed, int((fetch.at - origin) // INTERVAL_S)].add(fetch.agent)
    return sorted(key for key, seen in agents.items() if len(seen) > 1)


def handovers(fetches: Sequence[Fetch]) -> Iterator[tuple[Fetch, Fetch]]:
    """Consecutive fetches of one feed by different pollers."""
    last: dict[str, Fetch] = {}
    for fetch in sorted(fetches, key=lambda f: f.at):
        before = last.get(fetch.feed)
        if before is not None and before.agent != fetch.agent:
            yield before, fetch
        last[fetch.feed] = fetch


def quick_handovers(fetches: Sequence[Fetch]) -> list[tuple[str, float]]:
    """(feed, gap) of handovers where the new owner fetched within half an interval of the
    old one: the same feed polled twice in one interval."""
    return [
        (new.feed, round(new.at - old.at, 3))
        for old, new in handovers(fetches)
        if new.at - old.at < INTERVAL_S / 2
    ]


def in_window(fetches: Sequence[Fetch], start: float, end: float) -> list[Fetch]:
    return [f for f in fetches if start <= f.at < end]


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_two_pollers_share_feeds_and_hand_them_over_without_realerting(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pipeline_rig(
        tmp_path / "newsalert.yaml",
        feeds=FEEDS,
        destinations=DESTINATIONS,
        kafka=kafka_section(kafka_bootstrap, topic_prefix),
    ) as (feeds, hook, supervisor, config):
        for name in feeds.names:
            feeds.add(name)  # one old story per feed, alerted at the first poll (backfill: all)

        def poller(name: str, agent: str) -> Stage:
            env = {"NEWSALERT_POLLING__USER_AGENT": agent}
            return Stage("poller", config, tmp_path, name=name, env=env)

        origin = time.monotonic()
        poller_a = supervisor.start(poller("poller-a", AGENT_A), restart=False)
        supervisor.start(Stage("matcher", config, tmp_path), restart=False)
        supervisor.start(Stage("notifier", config, tmp_path), restart=False)
        first = wait_delivered(
            hook, feeds.expected(DESTINATIONS), within=60, quiet=0, supervisor=supervisor
        )
        assert first.missing == [], supervisor.tails()

        # New stories keep appearing in every feed while poller-b joins and poller-a leaves.
        with Stream(feeds, total=2 * FEEDS, rate=4.0, non_matching_every=0) as stream:
            poller_b = supervisor.start(poller("poller-b", AGENT_B), restart=False)
            wait_until(
                lambda: any(f.agent == AGENT_B for f in feeds.fetches_since(origin)),
                30,
                "poller-b to take its share",
            )
            both_from = time.monotonic() + SETTLE_S
            time.sleep(SETTLE_S + WINDOW_S)
            both_until = time.monotonic()
            supervisor.check()
            stop_a = supervisor.stop(poller_a)
            stopped_at = time.monotonic()
            time.sleep(SETTLE_S + WINDOW_S)
            supervisor.check()
            stream.join()
        result = wait_delivered(
            hook, feeds.expected(DESTINATIONS), within=30, quiet=3, supervisor=supervisor
        )
        ended = time.monotonic()
        exits = supervisor.stop_all()

    fetches = feeds.fetches_since(origin)
    shared = in_window(fetches, both_from, both_until)
    alone = in_window(fetches, stopped_at + SETTLE_S, ended)
    owned_by_a = {feed for feed, agents in owners(shared).items() if agents == {AGENT_A}}
    articles = asyncio.run(read_topic(kafka_bootstrap, f"{topic_prefix}.articles"))
    published_twice = sum(n - 1 for n in Counter(key for key, _, _ in articles).values())
    close_calls = quick_handovers(fetches)
    report(
        capsys,
        "poller_ownership",
        feeds=FEEDS,
        feeds_of_a=len(owned_by_a),
        feeds_of_b=len(owners(shared)) - len(owned_by_a),
        windows_with_two_pollers_whole_run=len(shared_windows(fetches, origin)),
        handovers=sum(1 for _ in handovers(fetches)),
        handovers_within_half_interval=len(close_calls),
        articles_published=len(articles),
        articles_published_twice=published_twice,
        **result.counts(),
    )

    # While both ran, every feed was polled, each by exactly one poller per interval window,
    # and both pollers had a share.
    assert set(owners(shared)) == set(feeds.names), "no feed left unpolled"
    assert shared_windows(shared, origin) == []
    assert all(len(agents) == 1 for agents in owners(shared).values())
    assert 0 < len(owned_by_a) < FEEDS
    # Through both handovers (poller-b joining, poller-a leaving), a feed that changed hands
    # was not fetched again by its new owner before its next poll was due.
    assert close_calls == []
    # After poller-a stopped, poller-b polled every feed, including poller-a's.
    assert stop_a == 0, supervisor.tails()
    assert owners(alone) == {feed: {AGENT_B} for feed in feeds.names}
    assert exits["poller-b"] == 0 and poller_b.exit_codes == [0], "poller-b never restarted"
    # Nothing skipped, nothing re-alerted.
    assert result.missing == [], supervisor.tails()
    assert result.unexpected == []
    assert result.repeated == 0
    assert published_twice == 0, "a poller that takes over a feed does not republish its items"
