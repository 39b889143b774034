"""Slack app mode over a real broker: a notifier killed between two copies of a story, and
its replacement still replies in the first message's thread (the compacted
`<prefix>.slack_messages` topic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.feeds import Item, rss
from tests.integration.feedserver import FeedServer, Reply
from tests.kafka.harness import Supervisor, kafka_section, pipeline_stages, wait_until
from tests.support.slack_api import SlackApi

FIRST = Item(
    "wire-1",
    "China's central bank cuts reserve requirement ratio for banks",
    "The People's Bank of China cut the reserve requirement ratio by 50 basis points.",
)
COPY = Item(
    "desk-9",
    "People's Bank of China cuts banks' reserve requirement ratio by 50 basis points",
    "China's central bank lowered the reserve requirement ratio for banks on Friday.",
)


@pytest.mark.timeout(180)
def test_a_killed_notifiers_replacement_still_replies_in_the_thread(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    with FeedServer() as feeds, SlackApi() as slack, Supervisor() as supervisor:
        wire = feeds.route("/wire.xml", Reply(body=rss([FIRST])))
        desk = feeds.route("/desk.xml", Reply(body=rss([])))
        config = tmp_path / "newsalert.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "kafka": kafka_section(kafka_bootstrap, topic_prefix),
                    "health": {"port": 0},
                    "network": {"allow_private": True},
                    "logging": {"format": "json"},
                    "polling": {"interval": "1s", "backfill": "all", "timeout": "5s"},
                    "feeds": [{"name": "wire", "url": wire}, {"name": "desk", "url": desk}],
                    "watchlists": [
                        {"name": "china", "query": "China", "destinations": ["markets"]}
                    ],
                    "delivery": {"max_attempts": 30, "initial_backoff": "100ms"},
                    "destinations": [
                        {
                            "name": "markets",
                            "type": "slack",
                            "token": "${SLACK_BOT_TOKEN}",
                            "channel": "#markets",
                            "api_url": slack.url,
                            "updates": "thread",
                            "min_interval": "0s",
                        }
                    ],
                }
            )
        )
        poller, matcher, notifier = pipeline_stages(
            config, tmp_path, env={"SLACK_BOT_TOKEN": slack.token}
        )
        for stage in (poller, matcher, notifier):
            supervisor.start(stage, restart=False)
        wait_until(lambda: notifier.count("alert_delivered") >= 1, 90, "the first message")
        assert len(slack.top_level()) == 1

        supervisor.kill(notifier, restart=False)  # its memory of the message is gone
        supervisor.start(notifier, restart=False)
        feeds.route("/desk.xml", Reply(body=rss([COPY])))
        wait_until(lambda: len(slack.calls_to("chat.postMessage")) >= 2, 90, "the copy")
        exits = supervisor.stop_all()

    assert len(slack.top_level()) == 1, "the copy was posted on its own, not in the thread"
    [message] = slack.top_level()
    assert message.blocks[0]["text"]["text"] == FIRST.title
    assert len(message.replies) == 1, supervisor.tails()
    reply = slack.messages[(message.channel, message.replies[0])]
    assert "Also reported by desk" in reply.text
    assert exits == {"poller": 0, "matcher": 0, "notifier": 0}
    logs = poller.log_text() + matcher.log_text() + notifier.log_text()
    assert slack.token not in logs
    assert all(json.loads(c.body)["channel"] for c in slack.calls)
