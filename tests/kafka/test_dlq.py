"""Dead letters in Kafka mode: a destination failing for good fills `<prefix>.alerts.dlq`,
`newsalert dlq list` shows them, and `dlq replay` delivers them once the destination is back."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.broker import kafka_section
from tests.support.cli import NEWSALERT
from tests.support.processes import pipeline_stages
from tests.support.receivers import Reply
from tests.support.rig import pipeline_rig, wait_delivered, wait_until


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [NEWSALERT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ),
    )


@pytest.mark.timeout(180)
def test_dead_letters_are_listed_and_replayed(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    with pipeline_rig(
        tmp_path / "newsalert.yaml",
        feeds=1,
        kafka=kafka_section(kafka_bootstrap, topic_prefix),
    ) as (feeds, hook, supervisor, config):
        hook.default_reply = Reply(500, "<html>down</html>")
        first, second = feeds.add("f00"), feeds.add("f00")
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["delivery"].update(max_attempts=2, initial_backoff="50ms", max_backoff="100ms")
        config.write_text(yaml.safe_dump(data), encoding="utf-8")
        for stage in pipeline_stages(config, tmp_path):
            supervisor.start(stage, restart=False)

        wait_until(lambda: len(hook.received) >= 4, 60, "two attempts per alert")

        def letters() -> list[dict[str, object]]:
            listed = cli("dlq", "list", "--json", "-c", str(config))
            assert listed.returncode == 0, listed.stderr
            return [json.loads(line) for line in listed.stdout.splitlines()]

        wait_until(lambda: len(letters()) == 2, 30, "two dead letters")
        found = letters()
        assert {x["title"] for x in found} == {first.title, second.title}
        assert {x["attempts"] for x in found} == {2}
        assert all("500" in str(x["error"]) for x in found)

        hook.default_reply = Reply(204, "")  # the destination is back
        replay = cli("dlq", "replay", "-c", str(config))
        assert replay.returncode == 0 and "2 dead letters queued" in replay.stdout, replay.stderr
        result = wait_delivered(hook, feeds.expected(["hook"]), within=60, quiet=2)
        assert result.missing == [], supervisor.tails()
        assert result.repeated == 0
        assert letters() == []
        exits = supervisor.stop_all()
    assert exits == {"poller": 0, "matcher": 0, "notifier": 0}, supervisor.tails()
