"""Teams, ntfy, Telegram (and Discord digests) through the real `newsalert` command: alerts
delivered by `run --once` to local receivers that answer like each service, a rate limit
waited out, a refusal dead-lettered, digests after a flood, and `check` naming a bad key,
with the secrets of each destination never in any output."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.feed_server import FeedServer, Reply
from tests.support.receivers import WebhookReceiver
from tests.support.sample_feeds import BOTH, CHINA, ICO, OTHER, Item, rss
from tests.support.service_receivers import (
    NtfyReceiver,
    TeamsReceiver,
    TelegramReceiver,
    telegram_reply,
    telegram_visible_text,
)

NTFY_TOKEN = "tk_e2eSecretToken77"
YUAN = Item("y1", "Yuan slides as exports fall", "Beijing data showed weaker shipments.")
EXPECTED = sorted([CHINA.title, ICO.title, BOTH.title])


def _config(tmp_path: Path, feed: str, destinations: str, *, extra: str = "") -> Path:
    names = [line.split("name:")[1].split(",")[0].strip() for line in
             destinations.splitlines() if "name:" in line]  # fmt: skip
    text = textwrap.dedent(
        f"""\
        state_dir: {tmp_path / "state"}
        health: {{port: 0}}
        logging: {{format: json, level: debug}}
        network: {{allow_private: true}}
        polling: {{interval: 1s, backfill: all}}
        delivery: {{max_attempts: 3, initial_backoff: 100ms, max_backoff: 5s, timeout: 2s}}
        feeds: [{{name: wire, url: '{feed}'}}]
        watchlists:
          - {{name: china, query: 'China OR Chinese OR Beijing OR PBoC', destinations: [{", ".join(names)}]}}
          - {{name: ico, query: '`ICO` OR "token sale"', destinations: [{", ".join(names)}], priority: true}}
        destinations:
        """
    )
    path = tmp_path / "newsalert.yaml"
    path.write_text(text + destinations + extra, encoding="utf-8")
    return path


def test_run_once_delivers_to_teams(tmp_path: Path) -> None:
    with FeedServer() as feeds, TeamsReceiver() as teams:
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA, ICO, BOTH, OTHER])))
        dest = f"  - {{name: teams, type: teams, url: '{teams.url}', min_interval: 0s}}\n"
        result = run_cli("run", "--once", "-c", str(_config(tmp_path, url, dest)))
        assert result.returncode == 0, result.stderr
        cards = [r.json()["attachments"][0]["content"] for r in teams.received]
        assert all(r.status == 202 for r in teams.received)
        assert sorted(c["body"][0]["inlines"][0]["text"] for c in cards) == EXPECTED
        assert all(c["actions"][0]["url"].startswith("https://") for c in cards)
        assert teams.sig not in result.stdout + result.stderr


def test_run_once_delivers_to_ntfy_with_priority_and_token(tmp_path: Path) -> None:
    with FeedServer() as feeds, NtfyReceiver(token=NTFY_TOKEN) as ntfy:
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA, ICO, BOTH, OTHER])))
        dest = (
            f"  - {{name: phone, type: ntfy, url: '{ntfy.topic_url}', token: '${{NTFY_TOKEN}}',"
            " min_interval: 0s}\n"
        )
        config = _config(tmp_path, url, dest)
        result = run_cli("run", "--once", "-c", str(config), env={"NTFY_TOKEN": NTFY_TOKEN})
        assert result.returncode == 0, result.stderr
        bodies = {r.json()["title"]: r.json() for r in ntfy.received if r.status == 200}
        assert sorted(bodies) == EXPECTED
        assert bodies[CHINA.title]["priority"] == 3
        assert bodies[ICO.title]["priority"] == 4  # ico is a priority watchlist
        assert bodies[BOTH.title]["tags"] == ["china", "ico"]
        for secret in (NTFY_TOKEN, ntfy.topic):
            assert secret not in result.stdout + result.stderr


def test_run_once_delivers_to_telegram_after_a_rate_limit(tmp_path: Path) -> None:
    with FeedServer() as feeds, TelegramReceiver(chat_id=-1001234) as tg:
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA, ICO, BOTH, OTHER])))
        tg.script([telegram_reply(429, "Too Many Requests: retry after 2", retry_after=2)])
        dest = (
            "  - {name: tg, type: telegram, bot_token: '${TG_TOKEN}', chat_id: -1001234,"
            f" api_url: '{tg.url}', min_interval: 0s}}\n"
        )
        config = _config(tmp_path, url, dest)
        result = run_cli("run", "--once", "-c", str(config), env={"TG_TOKEN": tg.bot_token})
        assert result.returncode == 0, result.stderr
        ok = [r for r in tg.received if r.status == 200]
        titles = sorted(telegram_visible_text(r.json()["text"]).split("\n")[0] for r in ok)
        assert titles == EXPECTED
        # The rate-limited message was sent again only after Telegram's retry_after.
        first, retry = (
            tg.received[0],
            next(r for r in tg.received[1:] if r.body == tg.received[0].body),
        )
        assert retry.at - first.at >= 1.9
        assert tg.bot_token not in result.stdout + result.stderr


def test_refused_telegram_message_is_dead_lettered_without_the_token(tmp_path: Path) -> None:
    with FeedServer() as feeds, TelegramReceiver() as tg:
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA])))
        tg.script([telegram_reply(403, "Forbidden: bot was blocked by the user")])
        dest = (
            f"  - {{name: tg, type: telegram, bot_token: '{tg.bot_token}', chat_id: 4242,"
            f" api_url: '{tg.url}'}}\n"
        )
        config = _config(tmp_path, url, dest)
        result = run_cli("run", "--once", "-c", str(config))
        assert result.returncode == 0, result.stderr
        assert len(tg.received) == 1  # permanent: not retried
        listed = run_cli("dlq", "list", "--json", "-c", str(config))
        [letter] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert letter["destination"] == "tg"
        assert "bot was blocked" in letter["error"]
        outputs = result.stdout + result.stderr + listed.stdout + listed.stderr
        assert tg.bot_token not in outputs
        assert tg.bot_token.partition(":")[2] not in outputs


def test_flood_becomes_one_digest_per_destination(tmp_path: Path) -> None:
    with (
        FeedServer() as feeds,
        TeamsReceiver() as teams,
        NtfyReceiver() as ntfy,
        TelegramReceiver() as tg,
        WebhookReceiver() as discord,
    ):
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA, YUAN])))
        flood = "flood: {max: 1, per: 2s}, min_interval: 0s"
        dests = (
            f"  - {{name: teams, type: teams, url: '{teams.url}', {flood}}}\n"
            f"  - {{name: phone, type: ntfy, url: '{ntfy.topic_url}', {flood}}}\n"
            f"  - {{name: tg, type: telegram, bot_token: '{tg.bot_token}', chat_id: 4242,"
            f" api_url: '{tg.url}', {flood}}}\n"
            f"  - {{name: chat, type: discord, url: '{discord.url}', {flood}}}\n"
        )
        config = _config(tmp_path, url, dests)
        assert run_cli("run", "--once", "-c", str(config)).returncode == 0
        time.sleep(2.5)  # the flood window ends; the next run sends its digest
        result = run_cli("run", "--once", "-c", str(config))
        assert result.returncode == 0, result.stderr
        for receiver in (teams, ntfy, tg, discord):
            assert [r.status < 300 for r in receiver.received] == [True, True]
        digest = teams.received[1].json()["attachments"][0]["content"]["body"]
        assert digest[0]["inlines"][0]["text"].startswith("Digest: 1 story")
        assert ntfy.received[1].json()["title"].startswith("Digest: 1 story")
        assert tg.received[1].json()["text"].startswith("<b>Digest: 1 story")
        assert discord.received[1].json()["embeds"][0]["title"].startswith("Digest: 1 story")


@pytest.mark.parametrize(
    ("dest", "words"),
    [
        ("{name: t, type: teams}", "destinations[0]: a teams destination needs a url"),
        ("{name: t, type: telegram, chat_id: 42}", "a telegram destination needs a bot_token"),
        ("{name: t, type: telegram, bot_token: 'SECRET1:abc'}", "needs a chat_id"),
        ("{name: t, type: telegram, bot_token: 'SECRET1:abc', chat_id: 'my chat'}",
         "chat_id is a number"),
        ("{name: t, type: ntfy, url: 'https://ntfy.sh/'}", "the server and the topic"),
        ("{name: t, type: ntfy, url: 'https://ntfy.sh/SECRET1', token: 'tk SECRET1'}",
         "token has spaces"),
        ("{name: t, type: ntfy, url: 'https://ntfy.sh/SECRET1', secret: 'x'}",
         "a ntfy destination takes no secret"),
        ("{name: t, type: telegram, bot_token: 'SECRET1:abc', chat_id: 1, url: 'https://x.org/'}",
         "a telegram destination takes no url"),
    ],
)  # fmt: skip
def test_check_names_the_bad_key_in_one_line(tmp_path: Path, dest: str, words: str) -> None:
    config = _config(tmp_path, "https://example.com/feed.xml", f"  - {dest}\n")
    result = run_cli("check", "-c", str(config))
    assert result.returncode == 2
    lines = [line for line in result.stdout.splitlines() + result.stderr.splitlines() if line]
    [line] = [line for line in lines if words in line]
    assert "destinations[0]" in line
    assert "SECRET1" not in result.stdout + result.stderr
