"""The broker goes away mid-stream and comes back on the same port with its data. Processes
that lose it for longer than `kafka.broker_timeout` exit non-zero and are restarted by a
supervisor, as a container orchestrator would; nothing is lost. This test runs its own broker,
since stopping the session's would break every other test."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.support.broker import kafka_script_run, kafka_section
from tests.support.processes import pipeline_stages
from tests.support.rig import pipeline_rig, report, wait_delivered, wait_until
from tests.support.story_feeds import Stream

DESTINATIONS = ("audit", "desk")
FEEDS = 5
STORIES = 150
RATE = 8.0
BROKER_TIMEOUT_S = 4
# Down for well over broker_timeout, so every stage must notice and exit.
BROKER_DOWN_S = 10.0
# Stages exit mid-work like a crash; only what was in flight may repeat.
MAX_REPEATS = 10


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_stages_survive_a_broker_restart_mid_stream(
    kafka_script: Path, topic_prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker_dir = tmp_path / "broker"
    code, out, err = kafka_script_run(kafka_script, "start", "--dir", str(broker_dir))
    assert code == 0, err
    bootstrap = re.findall(r"^bootstrap=(\S+)$", out, re.MULTILINE)[-1]
    try:
        with pipeline_rig(
            tmp_path / "newsalert.yaml",
            feeds=FEEDS,
            destinations=DESTINATIONS,
            kafka=kafka_section(bootstrap, topic_prefix, broker_timeout=f"{BROKER_TIMEOUT_S}s"),
        ) as (feeds, hook, supervisor, config):
            stages = [supervisor.start(stage) for stage in pipeline_stages(config, tmp_path)]
            with Stream(feeds, total=STORIES, rate=RATE) as stream:
                wait_until(lambda: len(hook.received) > 0, 60, "the first alert")
                stream.wait_added(STORIES // 3)
                code, _, err = kafka_script_run(kafka_script, "stop", "--dir", str(broker_dir))
                assert code == 0, err
                down_at = time.monotonic()
                received_at_stop = len(hook.received)
                time.sleep(BROKER_DOWN_S)
                code, out, err = kafka_script_run(kafka_script, "start", "--dir", str(broker_dir))
                assert code == 0, err
                assert f"bootstrap={bootstrap}" in out, "the broker came back on the same port"
                down_s = time.monotonic() - down_at
                stream.join()
            result = wait_delivered(hook, feeds.expected(DESTINATIONS), within=120, quiet=3)
            restarts = dict(supervisor.restarts)
            exits = supervisor.stop_all()
    finally:
        kafka_script_run(kafka_script, "stop", "--dir", str(broker_dir), timeout=60)

    report(
        capsys,
        "broker_restart",
        stories=STORIES,
        broker_down_s=round(down_s, 1),
        received_at_broker_stop=received_at_stop,
        restarts=restarts,
        exit_codes={stage.name: stage.exit_codes for stage in stages},
        # aiokafka retries a lost broker in a tight loop, logging each attempt (aio-libs/aiokafka#496).
        log_mb={stage.name: round(stage.log_path.stat().st_size / 1e6, 1) for stage in stages},
        **result.counts(),
    )
    assert result.missing == [], f"{len(result.missing)} lost\n{supervisor.tails()}"
    assert result.unexpected == []
    assert result.unverified == 0
    assert result.repeated <= MAX_REPEATS
    # Every stage noticed the lost broker, exited non-zero for its supervisor, and the last
    # incarnation, connected again, drained and exited cleanly on SIGTERM.
    for stage in stages:
        assert stage.exit_codes[-1] == 0, supervisor.tails()
        crashes = stage.exit_codes[:-1]
        assert crashes, f"{stage.name} never gave up on the lost broker\n{stage.tail()}"
        assert all(code != 0 for code in crashes), f"{stage.name}: {stage.exit_codes}"
    assert set(exits.values()) == {0}
