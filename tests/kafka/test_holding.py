"""Flood control in Kafka mode, through real poller, matcher and notifier processes and a signed
webhook receiver: the overflow of a flood window arrives as one digest, and what is held survives
a notifier kill -9 and a partition hand-over between two notifiers, each digest sent once."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.broker import kafka_section
from tests.support.held_alerts import Seen, add_keys, cli, committed, seen
from tests.support.processes import Stage, pipeline_stages
from tests.support.receivers import Reply
from tests.support.rig import pipeline_rig, report, wait_until


def _held(stage: Stage) -> int:
    return stage.count("alert_held")


def _assigned(stage: Stage) -> list[list[int]]:
    return [
        e["partitions"] for e in stage.events() if e.get("event") == "alert_partitions_assigned"
    ]


def _alerts_arrived(hook_seen: Seen, expected: set[tuple[str, str]]) -> bool:
    return set(hook_seen.every_alert()) >= expected


@pytest.mark.timeout(120)
def test_flood_overflow_becomes_one_digest(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pipeline_rig(
        tmp_path / "newsalert.yaml",
        feeds=1,
        destinations=("hook",),
        kafka=kafka_section(kafka_bootstrap, topic_prefix),
    ) as (feeds, hook, supervisor, config):
        add_keys(config, destinations={"flood": {"max": 2, "per": "5s"}})
        stories = [feeds.add("f00") for _ in range(6)]  # one burst, read in one poll
        for stage in pipeline_stages(config, tmp_path):
            supervisor.start(stage, restart=False)
        wait_until(lambda: len(seen(hook).digests) >= 1, 60, "the digest")
        time.sleep(3)  # a second digest or a late single would show up by now
        supervisor.check()
        got = seen(hook)
        first_single = min(r.at for r in hook.received if r.json()["type"] == "newsalert.alert")
        digest_at = min(r.at for r in hook.received if r.json()["type"] == "newsalert.digest")

    report(
        capsys,
        "flood_digest",
        singles=len(got.singles),
        digests=len(got.digests),
        digest_after_first_single_s=round(digest_at - first_single, 2),
    )
    assert len(got.singles) == 2
    assert [len(d.titles) for d in got.digests] == [4]
    assert got.every_alert() == Counter({(s.title, "hook"): 1 for s in stories})
    # The digest waits for the flood window to close, 5 s after the first of the two singles.
    assert digest_at - first_single >= 4.0
    assert got.unverified == 0 and got.repeated_ids == 0


@pytest.mark.timeout(150)
def test_kill_9_notifier_while_held_then_one_digest_with_all(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pipeline_rig(
        tmp_path / "newsalert.yaml",
        feeds=1,
        destinations=("hook",),
        kafka=kafka_section(kafka_bootstrap, topic_prefix),
    ) as (feeds, hook, supervisor, config):
        add_keys(config, destinations={"flood": {"max": 1, "per": "15s"}})
        stories = [feeds.add("f00") for _ in range(5)]
        group, alerts = f"{topic_prefix}.notifier", f"{topic_prefix}.alerts"
        _, _, notifier = (supervisor.start(s) for s in pipeline_stages(config, tmp_path))
        wait_until(lambda: _held(notifier) >= 4, 60, "four alerts held")
        # Past every alert in the alerts topic: after the kill only the held topic has them.
        wait_until(
            lambda: asyncio.run(committed(kafka_bootstrap, group, alerts)) == len(stories),
            30,
            "the notifier to commit past the held alerts",
        )
        assert seen(hook).digests == [], "killed while the alerts were still held"
        assert supervisor.kill(notifier) == -9  # the supervisor starts it again
        wait_until(lambda: len(seen(hook).digests) >= 1, 90, "the digest after the restart")
        time.sleep(3)
        supervisor.check()
        got = seen(hook)
        exits = list(notifier.exit_codes)

    report(capsys, "held_kill_9", singles=len(got.singles), digests=len(got.digests))
    assert exits[:1] == [-9] and notifier.starts == 2, supervisor.tails()
    assert len(got.singles) == 1
    assert [len(d.titles) for d in got.digests] == [4], "one digest with every held alert"
    assert got.every_alert() == Counter({(s.title, "hook"): 1 for s in stories})
    assert got.unverified == 0 and got.repeated_ids == 0


DESTINATIONS = ("audit", "desk", "ops", "risk")


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_held_alerts_move_with_their_partition_to_another_notifier(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pipeline_rig(
        tmp_path / "newsalert.yaml",
        feeds=1,
        destinations=DESTINATIONS,
        kafka=kafka_section(kafka_bootstrap, topic_prefix),
    ) as (feeds, hook, supervisor, config):
        # One single per destination, then a flood window long enough for the hand-over.
        add_keys(config, destinations={"flood": {"max": 1, "per": "40s"}})
        first = [feeds.add("f00") for _ in range(3)]
        _, _, notifier = (
            supervisor.start(s, restart=False) for s in pipeline_stages(config, tmp_path)
        )
        wait_until(lambda: _held(notifier) >= 2 * len(DESTINATIONS), 60, "the first alerts held")
        notifier2 = supervisor.start(Stage("notifier", config, tmp_path, name="notifier-2"))
        wait_until(lambda: any(_assigned(notifier2)), 60, "notifier-2 to get partitions")
        assert supervisor.stop(notifier) == 0, supervisor.tails()
        wait_until(lambda: len(_assigned(notifier2)[-1]) == 6, 60, "notifier-2 to get them all")
        # Alerts after the hand-over still count against the flood window the first one opened.
        later = [feeds.add("f00") for _ in range(2)]
        wait_until(
            lambda: _held(notifier2) >= len(later) * len(DESTINATIONS), 60, "the later alerts held"
        )
        wait_until(
            lambda: len(seen(hook).digests) >= len(DESTINATIONS), 90, "a digest per destination"
        )
        time.sleep(3)
        supervisor.check()
        got = seen(hook)
        by_first = notifier.count("digest_delivered")
        by_second = notifier2.count("digest_delivered")

    report(
        capsys,
        "held_handover",
        singles=len(got.singles),
        digests=len(got.digests),
        digests_by_first=by_first,
        digests_by_second=by_second,
    )
    stories = first + later
    for name in DESTINATIONS:
        assert len(got.singles_to(name)) == 1, name
        assert [len(d.titles) for d in got.digests_to(name)] == [len(stories) - 1], name
    assert got.every_alert() == Counter({(s.title, d): 1 for s in stories for d in DESTINATIONS})
    assert (by_first, by_second) == (0, len(DESTINATIONS))
    assert got.unverified == 0 and got.repeated_ids == 0


@pytest.mark.timeout(150)
def test_digest_given_up_on_becomes_dead_letters_that_replay(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    with pipeline_rig(
        tmp_path / "newsalert.yaml",
        feeds=1,
        destinations=("hook",),
        kafka=kafka_section(kafka_bootstrap, topic_prefix),
    ) as (feeds, hook, supervisor, config):
        add_keys(config, destinations={"flood": {"max": 1, "per": "3s"}})
        stories = [feeds.add("f00") for _ in range(3)]
        hook.script([Reply(204, ""), Reply(410, "gone")])  # the single, then the digest: gone
        for stage in pipeline_stages(config, tmp_path):
            supervisor.start(stage, restart=False)

        def letters() -> list[dict[str, object]]:
            listed = cli("dlq", "list", "--json", "-c", str(config))
            assert listed.returncode == 0, listed.stderr
            return [json.loads(line) for line in listed.stdout.splitlines()]

        wait_until(lambda: len(letters()) == 2, 60, "the digest's two alerts as dead letters")
        # Which story goes out alone depends on the order the matcher publishes them in.
        single = seen(hook).singles_to("hook")
        assert len(single) == 1
        assert {x["title"] for x in letters()} == {s.title for s in stories} - set(single)
        replay = cli("dlq", "replay", "-c", str(config))
        assert replay.returncode == 0, replay.stderr
        expected = {(s.title, "hook") for s in stories}
        wait_until(lambda: set(seen(hook).every_alert()) == expected, 60, "the replayed alerts")
        time.sleep(4)  # the replay's own flood window closes and sends its digest by now
        supervisor.check()
        got = seen(hook)
        assert letters() == []
    assert got.every_alert() == Counter({key: 1 for key in expected})
    assert got.unverified == 0 and got.repeated_ids == 0
