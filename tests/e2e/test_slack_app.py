"""Slack app mode through the real command: one message per story, later copies in its thread
(or edited into it), across a restart; and `newsalert check` on app-mode configs."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.e2e.conftest import run_cli
from tests.feeds import Item, rss
from tests.integration.feedserver import FeedServer, Reply
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


def _config(tmp_path: Path, wire: str, desk: str, api: str, updates: str) -> Path:
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
                destinations: [markets]
            delivery: {{max_attempts: 3, initial_backoff: 100ms, max_backoff: 1s, timeout: 2s}}
            destinations:
              - name: markets
                type: slack
                token: ${{SLACK_BOT_TOKEN}}
                channel: "#markets"
                api_url: {api}
                updates: {updates}
                min_interval: 0s
            """
        )
    )
    return path


def test_two_feeds_with_one_story_make_one_message_and_one_thread_reply(tmp_path: Path) -> None:
    with FeedServer() as feeds, SlackApi() as slack:
        wire = feeds.route("/wire.xml", Reply(body=rss([FIRST])))
        desk = feeds.route("/desk.xml", Reply(body=rss([COPY])))
        config = _config(tmp_path, wire, desk, slack.url, "thread")
        result = run_cli("run", "--once", "-c", str(config), env={"SLACK_BOT_TOKEN": slack.token})
        assert result.returncode == 0, result.stderr

        [message] = slack.top_level()
        assert message.blocks[0]["text"]["text"] in (FIRST.title, COPY.title)
        [reply_ts] = message.replies
        reply = slack.messages[(message.channel, reply_ts)]
        other = "desk" if "wire" in message.blocks[2]["elements"][0]["text"] else "wire"
        assert f"Also reported by *{other}*" in reply.blocks[0]["text"]["text"]
        assert slack.token not in result.stderr + result.stdout


def test_a_restart_between_the_copies_still_replies_in_the_thread(tmp_path: Path) -> None:
    with FeedServer() as feeds, SlackApi() as slack:
        wire = feeds.route("/wire.xml", Reply(body=rss([FIRST])))
        desk = feeds.route("/desk.xml", Reply(body=rss([])))
        config = _config(tmp_path, wire, desk, slack.url, "thread")
        env = {"SLACK_BOT_TOKEN": slack.token}
        first = run_cli("run", "--once", "-c", str(config), env=env)
        assert first.returncode == 0, first.stderr
        assert len(slack.top_level()) == 1
        feeds.route("/desk.xml", Reply(body=rss([COPY])))  # the copy arrives after the restart
        second = run_cli("run", "--once", "-c", str(config), env=env)
        assert second.returncode == 0, second.stderr

        [message] = slack.top_level()
        assert message.blocks[0]["text"]["text"] == FIRST.title
        [reply_ts] = message.replies
        reply = slack.messages[(message.channel, reply_ts)]
        assert COPY.title in reply.text and "desk" in reply.text


def test_edit_mode_edits_the_one_message_instead(tmp_path: Path) -> None:
    with FeedServer() as feeds, SlackApi() as slack:
        wire = feeds.route("/wire.xml", Reply(body=rss([FIRST])))
        desk = feeds.route("/desk.xml", Reply(body=rss([])))
        config = _config(tmp_path, wire, desk, slack.url, "edit")
        env = {"SLACK_BOT_TOKEN": slack.token}
        assert run_cli("run", "--once", "-c", str(config), env=env).returncode == 0
        feeds.route("/desk.xml", Reply(body=rss([COPY])))
        assert run_cli("run", "--once", "-c", str(config), env=env).returncode == 0

        [message] = slack.messages.values()
        assert message.edits == 1 and message.replies == []
        assert message.blocks[0]["text"]["text"] == FIRST.title
        assert message.blocks[-1]["elements"][0]["text"] == "Also reported by: desk"


def test_a_dead_letter_names_slacks_answer_but_not_the_token(tmp_path: Path) -> None:
    with FeedServer() as feeds, SlackApi() as slack:
        wire = feeds.route("/wire.xml", Reply(body=rss([FIRST])))
        desk = feeds.route("/desk.xml", Reply(body=rss([])))
        config = _config(tmp_path, wire, desk, slack.url, "thread")
        env = {"SLACK_BOT_TOKEN": slack.token}
        slack.fail_next("channel_not_found")
        assert run_cli("run", "--once", "-c", str(config), env=env).returncode == 0
        listed = run_cli("dlq", "list", "-c", str(config), env=env)
        assert listed.returncode == 0, listed.stderr
        assert "channel_not_found" in listed.stdout
        assert slack.token not in listed.stdout + listed.stderr
        assert slack.calls_to("chat.postMessage") == []


# -- newsalert check ----------------------------------------------------------------------

TOKEN = "xoxb-1111-2222-sEcReTbOtToKeN"
CHECKED = """\
feeds:
  - name: wire
    url: https://example.org/rss
watchlists:
  - name: china
    query: China
    destinations: [markets]
destinations:
  - name: markets
    type: slack
{keys}"""


def _check(tmp_path: Path, keys: str) -> tuple[int, list[str], str]:
    path = tmp_path / "app.yaml"
    path.write_text(CHECKED.format(keys=textwrap.indent(keys, "    ")))
    result = run_cli("check", "-c", str(path), env={"SLACK_BOT_TOKEN": TOKEN})
    assert "Traceback" not in result.stderr
    assert "sEcReTbOtToKeN" not in result.stdout + result.stderr
    return result.returncode, result.stderr.strip().splitlines(), result.stdout


def test_check_accepts_app_mode(tmp_path: Path) -> None:
    code, problems, out = _check(
        tmp_path, 'token: ${SLACK_BOT_TOKEN}\nchannel: "#markets"\nupdates: thread\n'
    )
    assert code == 0, problems
    assert ": OK: " in out


def test_check_names_the_missing_or_wrong_key_in_one_line(tmp_path: Path) -> None:
    cases = {
        "token: ${SLACK_BOT_TOKEN}\n": "needs a channel",
        'channel: "#markets"\n': "needs a token",
        "url: https://hooks.slack.com/services/T/B/x\ntoken: ${SLACK_BOT_TOKEN}\n": (
            "not both: remove token or url"
        ),
        'token: ${SLACK_BOT_TOKEN}\nchannel: "#markets"\nupdates: true\n': "thread or edit",
        'token: ${SLACK_BOT_TOKEN}\nchannel: "#m"\napi_url: slack.com/api\n': "api_url must be",
    }
    for keys, says in cases.items():
        code, problems, _ = _check(tmp_path, keys)
        assert code == 2, keys
        [line] = problems
        assert "destinations[0]" in line and says in line, (keys, line)
