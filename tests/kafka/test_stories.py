"""One story, one alert, across processes on the real broker: two matchers, kill -9 between copies.

A story first comes from feed `wire`; once its alert has arrived, the matcher that handled it is
killed with SIGKILL and stays down (so the later copy is necessarily handled by the other
matcher replica), and, depending on the case, the notifier is killed too (its stories must come
back from the compacted `<prefix>.stories` topic) or, with two notifiers, the one that owned the
alerts is killed and the other takes its partition over. Then feed `desk` publishes a copy of the
story (other wording, other link) and an unrelated story. What a user sees: the Slack channel
(an incoming webhook) got one message for the story and one for the unrelated story; the webhook
that takes updates got the story's alert, one `newsalert.story.updated` naming both feeds, and
the unrelated alert.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from tests.support.broker import kafka_section
from tests.support.cli import WEBHOOK_SECRET
from tests.support.feed_server import FeedServer, Reply
from tests.support.processes import Stage, Supervisor
from tests.support.receivers import SlackReceiver, WebhookReceiver
from tests.support.rig import report, wait_until
from tests.support.sample_feeds import Item, rss

FIRST = Item(
    "wire-tether",
    "Tether offers to buy Juventus from Exor in all-cash bid",
    "Stablecoin issuer Tether made an all-cash offer for Exor's controlling stake in Juventus, "
    "the Italian football club.",
)
COPY = Item(
    "desk-exor-bid",
    "Juventus owner Exor receives Tether bid for the Italian club",
    "Tether, the issuer of the USDT stablecoin, bid for the Juventus stake that the Agnelli "
    "family holds through Exor.",
)
OTHER = Item(
    "desk-kwon",
    "Do Kwon sentenced to 15 years in prison over Terra collapse",
    "A New York judge sentenced Terraform Labs founder Do Kwon for the fraud that wiped out "
    "TerraUSD.",
)
# Long enough for a consumer group to notice a SIGKILLed member (its session timeout is 10 s)
# and for the survivor to catch up.
WITHIN = 90.0


class Rig(NamedTuple):
    server: FeedServer
    slack: SlackReceiver
    hook: WebhookReceiver
    supervisor: Supervisor
    config: Path


def _config(path: Path, rig: dict[str, str], kafka: dict[str, Any]) -> Path:
    config = {
        "state_dir": str(path.parent / "state"),
        "health": {"port": 0},
        "network": {"allow_private": True},
        "logging": {"format": "json"},
        "polling": {"interval": "1s", "backfill": "all", "timeout": "5s"},
        "stories": {"window": "48h"},
        "kafka": kafka,
        "feeds": [{"name": "wire", "url": rig["wire"]}, {"name": "desk", "url": rig["desk"]}],
        "watchlists": [
            {"name": "crypto", "query": "Tether OR Kwon", "destinations": ["markets", "audit"]}
        ],
        "delivery": {"max_attempts": 30, "initial_backoff": "100ms", "max_backoff": "1s"},
        "destinations": [
            {"name": "markets", "type": "slack", "url": rig["slack"], "min_interval": "0s"},
            {
                "name": "audit",
                "type": "webhook",
                "url": rig["hook"],
                "secret": WEBHOOK_SECRET,
                "updates": True,
            },
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def _rig(tmp_path: Path, kafka: dict[str, Any]) -> Iterator[Rig]:
    with (
        FeedServer() as server,
        SlackReceiver() as slack,
        WebhookReceiver(WEBHOOK_SECRET) as hook,
        Supervisor() as supervisor,
    ):
        urls = {
            "wire": server.route("/wire.xml", Reply(body=rss([]))),
            "desk": server.route("/desk.xml", Reply(body=rss([]))),
            "slack": slack.url,
            "hook": hook.url,
        }
        yield Rig(server, slack, hook, supervisor, _config(tmp_path / "c.yaml", urls, kafka))


def _slack_titles(slack: SlackReceiver) -> list[str]:
    return sorted(r.json()["blocks"][0]["text"]["text"] for r in slack.received if r.status < 300)


def _events(hook: WebhookReceiver, kind: str) -> list[dict[str, Any]]:
    return [r.json() for r in hook.received if r.status < 300 and r.json()["type"] == kind]


def _handled(stage: Stage, event: str) -> bool:
    return stage.count(event) > 0


def _first_at(stage: Stage, event: str) -> str:
    """The ISO timestamp of the stage's first `event` (UTC, so they sort as text)."""
    return min(str(e.get("timestamp", "")) for e in stage.events() if e.get("event") == event)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", ["matcher", "matcher+notifier", "notifier-handover"])
def test_a_copy_after_a_kill_9_is_one_story(
    case: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # For the hand-over, one partition per topic: one notifier owns every alert and the other
    # waits, so killing the owner moves both destinations' stories to the survivor.
    extra = {"partitions": 1} if case == "notifier-handover" else {}
    kafka = kafka_section(kafka_bootstrap, topic_prefix, **extra)
    with _rig(tmp_path, kafka) as (server, slack, hook, supervisor, config):
        poller = supervisor.start(Stage("poller", config, tmp_path))
        matchers = [
            supervisor.start(Stage("matcher", config, tmp_path, name=f"matcher-{n}"), restart=False)
            for n in (1, 2)
        ]
        notifier_names = (
            ["notifier-1", "notifier-2"] if case == "notifier-handover" else ["notifier"]
        )
        notifiers = [
            supervisor.start(
                Stage("notifier", config, tmp_path, name=name),
                restart=case != "notifier-handover",
            )
            for name in notifier_names
        ]

        server.route("/wire.xml", Reply(body=rss([FIRST])))
        wait_until(
            lambda: len(slack.received) >= 1 and len(hook.received) >= 1,
            WITHIN,
            f"the first copy's alerts\n{supervisor.tails()}",
        )
        # The one that matched it first (a rebalance may have had the other match it again).
        first_matcher = min(
            (m for m in matchers if _handled(m, "article_matched")),
            key=lambda m: _first_at(m, "article_matched"),
        )
        [survivor] = [m for m in matchers if m is not first_matcher]
        assert supervisor.kill(first_matcher, restart=False) == -9
        killed_notifier: Stage | None = None
        if case == "matcher+notifier":
            killed_notifier = notifiers[0]
            assert supervisor.kill(killed_notifier) == -9  # the supervisor starts it again
        elif case == "notifier-handover":
            killed_notifier = min(
                (n for n in notifiers if _handled(n, "alert_delivered")),
                key=lambda n: _first_at(n, "alert_delivered"),
            )
            assert supervisor.kill(killed_notifier, restart=False) == -9

        server.route("/desk.xml", Reply(body=rss([COPY, OTHER])))
        wait_until(
            lambda: (
                OTHER.title in _slack_titles(slack)
                and len(_events(hook, "newsalert.story.updated")) >= 1
                and len(_events(hook, "newsalert.alert")) >= 2
            ),
            WITHIN,
            f"the copy's update and the unrelated story's alerts\n{supervisor.tails()}",
        )
        # Room for a wrong second alert of the story to arrive, were one on its way.
        time.sleep(3)
        supervisor.check()
        slack_titles = _slack_titles(slack)
        alerts = _events(hook, "newsalert.alert")
        updates = _events(hook, "newsalert.story.updated")
        tails = supervisor.tails()
        supervisor.stop_all()

    report(
        capsys,
        f"stories-{case}",
        slack_messages=len(slack_titles),
        webhook_alerts=len(alerts),
        webhook_updates=len(updates),
        matched_by={m.name: m.count("article_matched") for m in matchers},
        delivered_by={n.name: n.count("alert_delivered") for n in notifiers},
    )
    # The incoming-webhook channel: one message per story, the copy sent nothing.
    assert slack_titles == sorted([FIRST.title, OTHER.title]), tails
    assert sorted(a["data"]["article"]["title"] for a in alerts) == sorted(
        [FIRST.title, OTHER.title]
    ), tails
    [update] = updates
    story = next(a for a in alerts if a["data"]["article"]["title"] == FIRST.title)
    assert update["data"]["story"] == story["data"]["story"]["id"]
    assert update["data"]["article"]["title"] == COPY.title
    assert update["data"]["sources"] == ["wire", "desk"]
    assert all(r.verified for r in hook.received)
    # The copy was handled by the other matcher replica: the first one never came back.
    assert first_matcher.exit_codes == [-9]
    assert survivor.count("article_matched") >= 2, tails
    if killed_notifier is not None:
        assert killed_notifier.exit_codes[0] == -9
    if case == "matcher+notifier":
        assert notifiers[0].starts == 2, "the notifier came back and read the stories topic"
    if case == "notifier-handover":
        [other] = [n for n in notifiers if n is not killed_notifier]
        assert other.count("alert_delivered") >= 3, tails
    assert poller.exit_codes == [0], tails
