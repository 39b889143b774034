"""One story, one alert, as a user runs it: two outlets carry the same event."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.support.cli import WEBHOOK_SECRET, run_cli
from tests.support.feed_server import FeedServer, Reply
from tests.support.receivers import SlackReceiver, WebhookReceiver
from tests.support.sample_feeds import Item, rss

ENV = {"HOOK_SECRET": WEBHOOK_SECRET}
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
LATER = Item(
    "wire-2", "Beijing unveils a plan for chip makers", "China's cabinet set out subsidies."
)


def _config(tmp_path: Path, wire: str, desk: str, slack: str, hook: str) -> Path:
    path = tmp_path / "newsalert.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            state_dir: {tmp_path / "state"}
            health: {{port: 0}}
            network: {{allow_private: true}}
            polling: {{backfill: all}}
            feeds:
              - name: wire
                url: {wire}
              - name: desk
                url: {desk}
            watchlists:
              - name: china
                query: 'China OR Beijing'
                destinations: [markets, audit]
            delivery: {{max_attempts: 2, initial_backoff: 100ms, max_backoff: 1s, timeout: 2s}}
            destinations:
              - name: markets
                type: slack
                url: {slack}
                min_interval: 0s
              - name: audit
                type: webhook
                url: {hook}
                secret: ${{HOOK_SECRET}}
                updates: true
            """
        )
    )
    return path


def test_a_copy_from_another_feed_after_a_restart_is_an_update_not_an_alert(
    tmp_path: Path,
) -> None:
    with FeedServer() as feeds, SlackReceiver() as slack, WebhookReceiver(WEBHOOK_SECRET) as hook:
        wire = feeds.route("/wire.xml", Reply(body=rss([FIRST])))
        desk = feeds.route("/desk.xml", Reply(body=rss([])))
        config = _config(tmp_path, wire, desk, slack.url, hook.url)
        first = run_cli("run", "--once", "-c", str(config), env=ENV)
        assert first.returncode == 0, first.stderr
        # The process ends between the first copy and the later one: the story is in the store.
        feeds.route("/desk.xml", Reply(body=rss([COPY])))
        feeds.route("/wire.xml", Reply(body=rss([FIRST, LATER])))
        second = run_cli("run", "--once", "-c", str(config), env=ENV)
        assert second.returncode == 0, second.stderr

        titles = [r.json()["blocks"][0]["text"]["text"] for r in slack.received]
        assert sorted(titles) == sorted([FIRST.title, LATER.title])  # the copy sent nothing
        events = [r.json() for r in hook.received]
        assert all(r.verified for r in hook.received)
        alerts = [e for e in events if e["type"] == "newsalert.alert"]
        updates = [e for e in events if e["type"] == "newsalert.story.updated"]
        assert sorted(a["data"]["article"]["title"] for a in alerts) == sorted(
            [FIRST.title, LATER.title]
        )
        [update] = updates
        story = next(a for a in alerts if a["data"]["article"]["title"] == FIRST.title)
        assert story["data"]["story"]["id"] == update["data"]["story"]
        assert update["data"]["article"]["title"] == COPY.title
        assert update["data"]["sources"] == ["wire", "desk"]
        ids = [r.headers["webhook-id"] for r in hook.received]
        assert len(ids) == len(set(ids)) == 3


def test_stories_dry_run_groups_the_copies(tmp_path: Path) -> None:
    (tmp_path / "wire.xml").write_bytes(rss([FIRST, LATER]))
    (tmp_path / "desk.xml").write_bytes(rss([COPY]))
    config = tmp_path / "c.yaml"
    config.write_text(
        "watchlists:\n  - name: x\n    query: China\n    destinations: [console]\n"
        "destinations:\n  - name: console\n    type: console\n"
    )
    result = run_cli(
        "stories",
        "--json",
        "-c",
        str(config),
        str(tmp_path / "wire.xml"),
        str(tmp_path / "desk.xml"),
    )
    assert result.returncode == 0, result.stderr
    rows = {r["title"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows[FIRST.title]["story"] == rows[COPY.title]["story"]
    assert rows[LATER.title]["story"] != rows[FIRST.title]["story"]
    assert {"source", "id", "title", "link", "story"} <= set(rows[COPY.title])
    text = run_cli(
        "stories", "-c", str(config), str(tmp_path / "wire.xml"), str(tmp_path / "desk.xml")
    )
    assert "3 entries, 2 stories, 1 carried by several feeds" in text.stdout


def test_a_feed_re_posting_an_item_under_a_new_guid_alerts_once(tmp_path: Path) -> None:
    reposted = Item("wire-1-again", FIRST.title, FIRST.summary, hours_ago=0.5)  # new guid and link
    with FeedServer() as feeds, SlackReceiver() as slack, WebhookReceiver(WEBHOOK_SECRET) as hook:
        wire = feeds.route("/wire.xml", Reply(body=rss([FIRST])))
        desk = feeds.route("/desk.xml", Reply(body=rss([])))
        config = _config(tmp_path, wire, desk, slack.url, hook.url)
        assert run_cli("run", "--once", "-c", str(config), env=ENV).returncode == 0
        feeds.route("/wire.xml", Reply(body=rss([reposted, FIRST])))
        second = run_cli("run", "--once", "-c", str(config), env=ENV)
        assert second.returncode == 0, second.stderr

        assert [r.json()["blocks"][0]["text"]["text"] for r in slack.received] == [FIRST.title]
        events = [r.json() for r in hook.received]
        assert [e["type"] for e in events] == ["newsalert.alert", "newsalert.story.updated"]
        assert events[1]["data"]["story"] == events[0]["data"]["story"]["id"]
        assert events[1]["data"]["sources"] == ["wire"]
