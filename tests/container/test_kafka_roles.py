"""The image's three Kafka roles, `newsalert poller|matcher|notifier` in one container each,
carry stories from a local feed server through a real broker (tests/kafka's, on 127.0.0.1)
to a signature-checking webhook receiver, and each stops with exit 0 on `docker stop`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.container.engine import Container, config_dir
from tests.support.broker import kafka_section
from tests.support.cli import WEBHOOK_SECRET
from tests.support.feed_server import FeedServer
from tests.support.receivers import WebhookReceiver
from tests.support.rig import wait_delivered, write_config
from tests.support.story_feeds import StoryFeeds

ROLES = ("poller", "matcher", "notifier")


@pytest.mark.timeout(900)  # a cold Maven cache fetches Kafka before the broker starts
def test_poller_matcher_and_notifier_containers_carry_a_story_end_to_end(
    image: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    share_dir: Path,
    containers: list[Container],
) -> None:
    with FeedServer() as server, WebhookReceiver(WEBHOOK_SECRET) as hook:
        feeds = StoryFeeds(server, 2)
        feeds.add("f00")
        feeds.add("f01", matches=False)
        config = write_config(
            config_dir(share_dir) / "newsalert.yaml",
            feeds=feeds.urls,
            webhook_url=hook.url,
            kafka=kafka_section(kafka_bootstrap, topic_prefix),
            state_dir=Path("/app/data"),
        )
        stages = {role: Container(role, config=config) for role in ROLES}
        containers.extend(stages.values())

        first = wait_delivered(hook, feeds.expected(["hook"]), within=90, quiet=0)
        assert first.missing == [], "\n".join(stage.tail() for stage in stages.values())
        # A story that appears while the containers run goes the same way.
        feeds.add("f01")
        expected = feeds.expected(["hook"])
        result = wait_delivered(hook, expected, within=60, quiet=2)
        tails = "\n".join(stage.tail() for stage in stages.values())
        exits = {role: stage.stop(grace=10) for role, stage in stages.items()}

    assert result.missing == [], tails
    assert result.unexpected == [] and result.repeated == 0 and result.unverified == 0
    assert result.delivered == len(expected) == 2
    assert exits == dict.fromkeys(ROLES, 0), tails
    for stage in stages.values():
        assert stage.inspect()["Config"]["User"] == "10001:10001"
