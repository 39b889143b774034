"""Scale out and in mid-stream: a second matcher and a second notifier join the consumer groups,
then the first ones are stopped; the groups rebalance and nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.broker import kafka_section
from tests.support.processes import Stage, pipeline_stages
from tests.support.rig import pipeline_rig, report, wait_delivered, wait_until
from tests.support.story_feeds import Stream

# Alerts are keyed by destination: several destinations spread them over partitions, so both
# notifiers have something to own.
DESTINATIONS = ("audit", "desk", "ops", "risk")
FEEDS = 8
STORIES = 240
RATE = 16.0
# Graceful handovers commit before giving partitions up, and the shared delivery log absorbs
# what a rebalance hands over twice; a repeat would have to slip between the two.
MAX_REPEATS = 4


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_second_matcher_and_notifier_join_then_first_ones_leave(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pipeline_rig(
        tmp_path / "newsalert.yaml",
        feeds=FEEDS,
        destinations=DESTINATIONS,
        kafka=kafka_section(kafka_bootstrap, topic_prefix),
    ) as (feeds, hook, supervisor, config):
        poller, matcher, notifier = (
            supervisor.start(stage, restart=False) for stage in pipeline_stages(config, tmp_path)
        )
        with Stream(feeds, total=STORIES, rate=RATE) as stream:
            wait_until(lambda: len(hook.received) > 0, 60, "the first alert")
            stream.wait_added(STORIES // 3)
            matcher2 = supervisor.start(Stage("matcher", config, tmp_path, name="matcher-2"))
            notifier2 = supervisor.start(Stage("notifier", config, tmp_path, name="notifier-2"))
            stream.wait_added(2 * STORIES // 3)
            supervisor.check()
            first_exits = (supervisor.stop(matcher), supervisor.stop(notifier))
            stream.join()
        result = wait_delivered(
            hook, feeds.expected(DESTINATIONS), within=90, quiet=3, supervisor=supervisor
        )
        last_exits = supervisor.stop_all()

    matchers, notifiers = (matcher, matcher2), (notifier, notifier2)
    report(
        capsys,
        "rebalance",
        stories=STORIES,
        matched_by={s.name: s.count("article_matched") for s in matchers},
        delivered_by={s.name: s.count("alert_delivered") for s in notifiers},
        **result.counts(),
    )
    assert result.missing == [], f"{len(result.missing)} lost\n{supervisor.tails()}"
    assert result.unexpected == []
    assert result.unverified == 0
    assert result.repeated <= MAX_REPEATS
    # Every stop was a clean SIGTERM drain; nobody crashed along the way.
    assert first_exits == (0, 0), supervisor.tails()
    assert last_exits == {"poller": 0, "matcher-2": 0, "notifier-2": 0}, supervisor.tails()
    assert [s.exit_codes for s in (poller, matcher2, notifier2)] == [[0], [0], [0]]
