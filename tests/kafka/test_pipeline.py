"""End to end over a real broker: a feed server, `newsalert poller`, `newsalert matcher` and
`newsalert notifier` as three OS processes, and a signature-checking webhook receiver."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support.broker import kafka_section, list_topics, read_topic
from tests.support.processes import pipeline_stages
from tests.support.rig import pipeline_rig, report, wait_delivered

DESTINATIONS = ("audit", "desk")


@pytest.mark.timeout(150)
def test_new_items_reach_the_webhook_once_through_three_processes(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pipeline_rig(
        tmp_path / "newsalert.yaml",
        feeds=2,
        destinations=DESTINATIONS,
        kafka=kafka_section(kafka_bootstrap, topic_prefix),
    ) as (feeds, hook, supervisor, config):
        feeds.add("f00")
        feeds.add("f00", matches=False)
        feeds.add("f01")
        for stage in pipeline_stages(config, tmp_path):
            supervisor.start(stage, restart=False)

        # The items already in the feeds (backfill: all) arrive first...
        first = wait_delivered(
            hook, feeds.expected(DESTINATIONS), within=60, quiet=0, supervisor=supervisor
        )
        assert first.missing == [], supervisor.tails()
        # ...then items that appear while the processes run.
        feeds.add("f01")
        feeds.add("f00", matches=False)
        feeds.add("f00")
        expected = feeds.expected(DESTINATIONS)
        result = wait_delivered(hook, expected, within=30, quiet=3)
        exits = supervisor.stop_all()

    report(capsys, "pipeline", **result.counts())
    assert result.missing == [], supervisor.tails()
    assert result.unexpected == [], "only matching stories are alerted"
    assert result.repeated == 0, "each alert arrives once"
    assert result.unverified == 0, "every webhook is signed"
    assert result.delivered == len(expected) == 4 * len(DESTINATIONS)
    for request in hook.received:
        body = request.json()
        assert body["type"] == "newsalert.alert"
        assert request.headers["webhook-id"] == body["data"]["id"]
        assert request.path.endswith("/" + body["data"]["destination"])
    # SIGTERM drains and exits 0 in every role.
    assert exits == {"poller": 0, "matcher": 0, "notifier": 0}, supervisor.tails()

    topics = asyncio.run(list_topics(kafka_bootstrap))
    for name in ("articles", "alerts", "alerts.dlq"):
        assert f"{topic_prefix}.{name}" in topics
    # Alerts are keyed by destination, so one destination's alerts keep their order in one
    # partition.
    records = asyncio.run(read_topic(kafka_bootstrap, f"{topic_prefix}.alerts"))
    partitions: dict[str, set[int]] = defaultdict(set)
    for key, value, partition in records:
        assert json.loads(value)["destination"] == key
        partitions[key].add(partition)
    assert set(partitions) == set(DESTINATIONS)
    assert all(len(found) == 1 for found in partitions.values())
