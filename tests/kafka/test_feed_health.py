"""Feed health in Kafka mode with two poller processes and a signed webhook receiver: a feed that
breaks is told once when it starts failing and once when it recovers, even when the poller that
owned it stops or is killed in between; when most feeds break at once, one "feeds failing" alert and one
"feeds recovered" alert replace the flood."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.broker import kafka_section
from tests.support.feed_server import FeedServer, ReceivedRequest, Reply
from tests.support.held_alerts import add_keys, seen
from tests.support.processes import Stage
from tests.support.rig import pipeline_rig, report, wait_until
from tests.support.sample_feeds import Item, rss

AGENTS = {"poller-a": "newsalert-test/a", "poller-b": "newsalert-test/b"}
HEALTH = {"destinations": ["ops"], "failing_after": 2, "failing_for": "1m"}
# Failed polls are retried within a couple of seconds, so the tests do not wait out backoffs.
POLLING = {"max_backoff": "2s"}


class Breakable:
    """Feeds on their own server that answer 500 while `broken` is set, and a valid RSS else."""

    def __init__(self, server: FeedServer, names: Sequence[str], *, broken: bool = True) -> None:
        self.broken = threading.Event()
        if broken:
            self.broken.set()
        self.urls = {name: server.route(f"/{name}.xml", self._responder(name)) for name in names}
        self.agents: dict[str, list[str]] = {name: [] for name in names}

    def _responder(self, name: str) -> Callable[[ReceivedRequest], Reply]:
        body = rss([Item(f"{name}-1", f"Bakery news on {name}", hours_ago=1)])

        def respond(request: ReceivedRequest) -> Reply:
            self.agents[name].append(request.headers.get("user-agent", ""))
            return Reply(500, b"down") if self.broken.is_set() else Reply(body=body)

        return respond


def _pollers(config: Path, log_dir: Path) -> list[Stage]:
    return [
        Stage("poller", config, log_dir, name=name, env={"NEWSALERT_POLLING__USER_AGENT": agent})
        for name, agent in AGENTS.items()
    ]


def _settled(stages: Sequence[Stage]) -> bool:
    """Each poller's latest rebalance left it with feeds partitions: the group has settled."""
    for stage in stages:
        moves = [
            e
            for e in stage.events()
            if e.get("event") in ("feed_partitions_assigned", "feed_partitions_revoked")
        ]
        if not moves or moves[-1]["event"] != "feed_partitions_assigned":
            return False
        if not moves[-1]["partitions"]:
            return False
    return True


def _sent(stage: Stage) -> list[str]:
    """The types of the health alerts this poller has delivered and recorded as delivered."""
    return [e["type"] for e in stage.events() if e.get("event") == "feed_health_delivered"]


def _health(hook: Any, kind: str, feed: str | None) -> list[dict[str, Any]]:
    return [
        h for h in seen(hook).health if h["type"] == f"newsalert.feed.{kind}" and h["feed"] == feed
    ]


@pytest.mark.timeout(150)
@pytest.mark.parametrize("leaves", ["sigterm", "kill_9"])
def test_failing_feed_with_two_pollers_is_one_failing_and_one_recovered_alert(
    leaves: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with (
        FeedServer() as server,
        pipeline_rig(
            tmp_path / "newsalert.yaml",
            feeds=4,
            destinations=("ops",),
            kafka=kafka_section(kafka_bootstrap, topic_prefix),
        ) as (_, hook, supervisor, config),
    ):
        broken = Breakable(server, ["wire"], broken=False)
        add_keys(config, feeds=broken.urls, feed_health=HEALTH, polling=POLLING)
        pollers = {s.name: supervisor.start(s, restart=False) for s in _pollers(config, tmp_path)}
        # The feed breaks once both pollers have their share, so its owner is the settled one.
        wait_until(lambda: _settled(list(pollers.values())), 60, "both pollers to get feeds")
        settled_at = len(broken.agents["wire"])
        wait_until(lambda: len(broken.agents["wire"]) > settled_at + 1, 30, "a poll of the feed")
        broken.broken.set()
        wait_until(lambda: _health(hook, "failing", "wire"), 60, "the failing alert")
        owner = next(n for n, agent in AGENTS.items() if broken.agents["wire"][-1] == agent)
        other = next(n for n in AGENTS if n != owner)
        # The owner has recorded the delivery: a kill between the send and that record would
        # rightly send the alert again, with the same webhook-id (delivery is at least once).
        wait_until(lambda: _sent(pollers[owner]), 30, f"{owner} to record the failing alert sent")
        # Hand the failing feed over: stop (or kill -9) the poller that owns it, for good.
        if leaves == "sigterm":
            assert supervisor.stop(pollers[owner]) == 0, supervisor.tails()
        else:
            assert supervisor.kill(pollers[owner], restart=False) == -9
        wait_until(
            lambda: broken.agents["wire"][-1] == AGENTS[other], 60, f"{other} to poll the feed"
        )
        broken.broken.clear()
        wait_until(lambda: _health(hook, "recovered", "wire"), 60, "the recovered alert")
        time.sleep(4)  # a repeat, or a second transition, would show up by now
        supervisor.check()
        got = seen(hook)
        sent_by = {name: _sent(stage) for name, stage in pollers.items()}

    failing = [h for h in got.health if h["type"] == "newsalert.feed.failing"]
    recovered = [h for h in got.health if h["type"] == "newsalert.feed.recovered"]
    report(
        capsys,
        "feed_health_two_pollers",
        owner_leaves_by=leaves,
        failing=len(failing),
        recovered=len(recovered),
        downtime_s=recovered[0]["downtime_s"] if recovered else None,
    )
    assert [h["feed"] for h in failing] == ["wire"]
    assert [h["feed"] for h in recovered] == ["wire"]
    assert failing[0]["http_status"] == 500 and failing[0]["next_retry_at"] is not None
    assert recovered[0]["downtime_s"] > 0
    # Each by the poller that owned the feed at the time.
    assert sent_by == {owner: ["newsalert.feed.failing"], other: ["newsalert.feed.recovered"]}
    assert got.singles == [] and got.unverified == 0 and got.repeated_ids == 0


@pytest.mark.timeout(150)
def test_most_feeds_failing_across_pollers_is_one_storm_alert(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In feeds-topic partitions 1, 4 and 5 (of 6): the two pollers each own some of them.
    names = ["w1", "w4", "w5", "w6"]
    with (
        FeedServer() as server,
        pipeline_rig(
            tmp_path / "newsalert.yaml",
            feeds=1,
            destinations=("ops",),
            kafka=kafka_section(kafka_bootstrap, topic_prefix),
        ) as (_, hook, supervisor, config),
    ):
        broken = Breakable(server, names)  # four of five feeds down: the network, not the feeds
        add_keys(config, feeds=broken.urls, feed_health=HEALTH, polling=POLLING)
        for stage in _pollers(config, tmp_path):
            supervisor.start(stage, restart=False)
        wait_until(lambda: _health(hook, "failing", None), 60, "the feeds-failing alert")
        time.sleep(4)  # every feed has crossed its threshold by now
        broken.broken.clear()
        wait_until(lambda: _health(hook, "recovered", None), 60, "the feeds-recovered alert")
        time.sleep(4)
        supervisor.check()
        got = seen(hook)
        agents = {a for polled in broken.agents.values() for a in polled}
        both = [n for n, agent in AGENTS.items() if agent in agents]

    storm_failing = [
        h for h in got.health if h["type"] == "newsalert.feed.failing" and not h["feed"]
    ]
    storm_recovered = [
        h for h in got.health if h["type"] == "newsalert.feed.recovered" and not h["feed"]
    ]
    single_failing = [h for h in got.health if h["type"] == "newsalert.feed.failing" and h["feed"]]
    single_recovered = [
        h for h in got.health if h["type"] == "newsalert.feed.recovered" and h["feed"]
    ]
    report(
        capsys,
        "feed_health_storm",
        storm_failing=len(storm_failing),
        storm_recovered=len(storm_recovered),
        single_failing=len(single_failing),
        single_recovered_after_the_storm=len(single_recovered),
        pollers_polling_broken_feeds=len(both),
    )
    assert len(both) == 2, "both pollers own some of the broken feeds"
    assert len(storm_failing) == 1 and len(storm_recovered) == 1
    assert len(set(storm_failing[0]["feeds"]) & set(names)) >= 3
    assert single_failing == [], "no alert per feed while most are failing"
    assert got.unverified == 0 and got.repeated_ids == 0
