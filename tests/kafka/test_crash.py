"""kill -9 the matcher, then the notifier, in the middle of a stream of several hundred
articles; a supervisor restarts them; every expected alert arrives, and repeats are counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.broker import kafka_section
from tests.support.processes import pipeline_stages
from tests.support.rig import pipeline_rig, report, wait_delivered, wait_until
from tests.support.story_feeds import Stream

DESTINATIONS = ("audit", "desk", "ops")
FEEDS = 10
STORIES = 300  # two in three match: 200 stories, 600 alerts
# Stories per second: slow enough that the stream outlasts the matcher's restart (a new member
# waits out the killed one's session timeout) and the notifier still dies mid-stream.
RATE = 10.0
# At-least-once: a notifier killed between a delivery and its delivery-log entry sends that
# alert again (same webhook-id). Only what was in flight at the kill may repeat.
MAX_REPEATS = 10


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_kill_9_matcher_then_notifier_mid_stream_loses_nothing(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pipeline_rig(
        tmp_path / "newsalert.yaml",
        feeds=FEEDS,
        destinations=DESTINATIONS,
        kafka=kafka_section(kafka_bootstrap, topic_prefix),
    ) as (feeds, hook, supervisor, config):
        poller, matcher, notifier = (
            supervisor.start(stage) for stage in pipeline_stages(config, tmp_path)
        )
        with Stream(feeds, total=STORIES, rate=RATE) as stream:
            # Kill only once alerts flow, so the victims hold work in flight.
            wait_until(lambda: len(hook.received) > 0, 60, "the first alert")
            stream.wait_added(STORIES // 3)
            before_matcher_kill = len(hook.received)
            assert supervisor.kill(matcher) == -9
            # Kill the notifier in the burst of alerts the restarted matcher catches up with.
            wait_until(
                lambda: len(hook.received) >= before_matcher_kill + 60,
                60,
                "alerts to flow again after the matcher restart",
            )
            before_notifier_kill = len(hook.received)
            stories_at_notifier_kill = stream.added
            assert supervisor.kill(notifier) == -9
            stream.join()
        result = wait_delivered(hook, feeds.expected(DESTINATIONS), within=90, quiet=3)
        restarts = dict(supervisor.restarts)
        supervisor.stop_all()

    report(
        capsys,
        "crash",
        stories=STORIES,
        received_before_matcher_kill=before_matcher_kill,
        received_before_notifier_kill=before_notifier_kill,
        stories_at_notifier_kill=stories_at_notifier_kill,
        restarts=restarts,
        **result.counts(),
    )
    assert stories_at_notifier_kill < STORIES, "the notifier was killed mid-stream"
    assert result.missing == [], f"{len(result.missing)} lost\n{supervisor.tails()}"
    assert result.unexpected == []
    assert result.unverified == 0
    assert result.repeated <= MAX_REPEATS
    assert restarts == {"matcher": 1, "notifier": 1}, "nothing else crashed"
    assert matcher.exit_codes == [-9, 0] and notifier.exit_codes == [-9, 0], supervisor.tails()
    assert poller.exit_codes == [0]
