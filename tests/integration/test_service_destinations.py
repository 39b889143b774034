"""Teams, ntfy and Telegram against local receivers that answer like the services: delivery of
alerts, digests and feed health, classification of answers, secrets kept out of errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from consumers.destinations.ntfy import NtfyDestination
from consumers.destinations.teams import TeamsDestination
from consumers.destinations.telegram import TelegramDestination
from consumers.errors import DeliveryError
from tests.support.alerts import HOSTILE_TITLE, make_alert, make_digest, make_health, many_alerts
from tests.support.service_receivers import (
    NtfyReceiver,
    Reply,
    TeamsReceiver,
    TelegramReceiver,
    telegram_reply,
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


# -- Teams -----------------------------------------------------------------------------------
async def test_teams_receives_alert_digest_and_health(client: httpx.AsyncClient) -> None:
    async with TeamsReceiver() as teams:
        dest = TeamsDestination("t", teams.url, client, timeout=5, allow_private=True)
        await dest.send(make_alert(HOSTILE_TITLE))
        await dest.send_digest(make_digest(many_alerts(400)))
        await dest.send_feed_health(make_health("failing"))
        assert [r.status for r in teams.received] == [202, 202, 202]
        card = teams.received[0].json()["attachments"][0]["content"]
        assert card["body"][0]["inlines"][0]["text"] == " ".join(HOSTILE_TITLE.split())


@pytest.mark.parametrize(
    ("reply", "retriable", "wait", "words"),
    [
        (Reply(429, "", {"retry-after": "7"}), True, 7.0, "throttled"),
        (Reply(502, "Bad Gateway"), True, None, "HTTP 502"),
        (Reply(408, ""), True, None, "HTTP 408"),
        (Reply(404, '{"error":{"code":"WorkflowNotFound","message":"x"}}'), False, None,
         "WorkflowNotFound"),
        (Reply(413, ""), False, None, "too large"),
        (Reply(302, "", {"location": "https://elsewhere.example/"}), False, None, "redirect"),
    ],
)  # fmt: skip
async def test_teams_classifies_answers(
    client: httpx.AsyncClient, reply: Reply, retriable: bool, wait: float | None, words: str
) -> None:
    async with TeamsReceiver() as teams:
        teams.script([reply])
        dest = TeamsDestination("t", teams.url, client, timeout=5, allow_private=True)
        with pytest.raises(DeliveryError) as caught:
            await dest.send(make_alert())
        assert caught.value.retriable is retriable
        assert caught.value.retry_after == wait
        assert words in str(caught.value)
        assert teams.sig not in repr(caught.value)


async def test_teams_refuses_a_wrong_signature_permanently(client: httpx.AsyncClient) -> None:
    async with TeamsReceiver() as teams:
        url = teams.url.replace(teams.sig, "forged")
        dest = TeamsDestination("t", url, client, timeout=5, allow_private=True)
        with pytest.raises(DeliveryError) as caught:
            await dest.send(make_alert())
        assert not caught.value.retriable
        assert "DirectApiAuthorizationRequired" in str(caught.value)
        assert "forged" not in str(caught.value)


async def test_teams_private_address_refused_unless_allowed(client: httpx.AsyncClient) -> None:
    async with TeamsReceiver() as teams:
        dest = TeamsDestination("t", teams.url, client, timeout=5, allow_private=False)
        with pytest.raises(DeliveryError, match="non-public address") as caught:
            await dest.send(make_alert())
        assert not caught.value.retriable
        assert teams.received == []


# -- ntfy ------------------------------------------------------------------------------------
async def test_ntfy_publishes_json_with_token(client: httpx.AsyncClient) -> None:
    async with NtfyReceiver(token="tk_secret123", prefix="/ntfy/") as ntfy:
        dest = NtfyDestination(
            "n",
            ntfy.topic_url,
            "tk_secret123",
            client,
            timeout=5,
            allow_private=True,
            priority_watchlists={"pboc"},
        )
        await dest.send(make_alert("Yuan 中国 “quotes”\nsecond line"))
        await dest.send_digest(make_digest(many_alerts(300)))
        await dest.send_feed_health(make_health("recovered"))
        assert [r.status for r in ntfy.received] == [200, 200, 200]
        first = ntfy.received[0]
        assert first.path == "/ntfy/"
        assert first.headers["authorization"] == "Bearer tk_secret123"
        body = first.json()
        assert body["title"] == "Yuan 中国 “quotes” second line"
        assert body["priority"] == 4  # pboc is a priority watchlist
        assert body["tags"] == ["china", "pboc"]


@pytest.mark.parametrize(
    ("token", "reply", "retriable", "wait", "words"),
    [
        ("tk_right", Reply(429, '{"code":42901,"http":429,"error":"limit reached"}',
                           {"retry-after": "4"}), True, 4.0, "ntfy code 42901"),
        ("tk_right", Reply(507, '{"code":50701,"http":507}'), True, None, "HTTP 507"),
        ("tk_wrong", None, False, None, "token is missing or wrong"),
        (None, None, False, None, "may not publish"),
        ("tk_right", Reply(413, '{"code":41301,"http":413}'), False, None, "too large"),
    ],
)  # fmt: skip
async def test_ntfy_classifies_answers(
    client: httpx.AsyncClient,
    token: str | None,
    reply: Reply | None,
    retriable: bool,
    wait: float | None,
    words: str,
) -> None:
    async with NtfyReceiver(token="tk_right") as ntfy:
        if reply is not None:
            ntfy.script([reply])
        dest = NtfyDestination("n", ntfy.topic_url, token, client, timeout=5, allow_private=True)
        with pytest.raises(DeliveryError) as caught:
            await dest.send(make_alert())
        assert caught.value.retriable is retriable
        assert caught.value.retry_after == wait
        assert words in str(caught.value)
        for secret in ("tk_right", "tk_wrong", ntfy.topic):
            assert secret not in repr(caught.value)


# -- Telegram --------------------------------------------------------------------------------
def _telegram(
    receiver: TelegramReceiver, client: httpx.AsyncClient, **kw: object
) -> TelegramDestination:
    return TelegramDestination(
        "tg",
        str(kw.get("token", receiver.bot_token)),
        receiver.chat_id,
        client,
        api_url=receiver.url,
        timeout=5,
        allow_private=True,
    )


async def test_telegram_sends_html_messages(client: httpx.AsyncClient) -> None:
    async with TelegramReceiver() as tg:
        dest = _telegram(tg, client)
        await dest.send(make_alert(HOSTILE_TITLE, summary="<&>" * 3000))
        await dest.send_digest(make_digest(many_alerts(300, HOSTILE_TITLE + " {i}")))
        await dest.send_feed_health(make_health("stale"))
        assert [r.status for r in tg.received] == [200, 200, 200]
        assert tg.received[0].path == f"/bot{tg.bot_token}/sendMessage"
        assert tg.received[0].json()["parse_mode"] == "HTML"


@pytest.mark.parametrize(
    ("reply", "retriable", "wait", "words"),
    [
        (telegram_reply(429, "Too Many Requests: retry after 9", retry_after=9), True, 9.0,
         "Too Many Requests"),
        (telegram_reply(502, "Bad Gateway"), True, None, "HTTP 502"),
        (telegram_reply(403, "Forbidden: bot was blocked by the user"), False, None,
         "bot was blocked"),
        (telegram_reply(400, "Bad Request: group chat was upgraded to a supergroup chat",
                        migrate_to_chat_id=-1001234567890), False, None,
         "set chat_id to -1001234567890"),
        (Reply(200, '{"ok":false}'), False, None, "does not look like the Bot API"),
    ],
)  # fmt: skip
async def test_telegram_classifies_answers(
    client: httpx.AsyncClient, reply: Reply, retriable: bool, wait: float | None, words: str
) -> None:
    async with TelegramReceiver() as tg:
        tg.script([reply])
        with pytest.raises(DeliveryError) as caught:
            await _telegram(tg, client).send(make_alert())
        assert caught.value.retriable is retriable
        assert caught.value.retry_after == wait
        assert words in str(caught.value)
        assert tg.bot_token not in repr(caught.value)


async def test_telegram_wrong_chat_and_wrong_token_are_permanent(
    client: httpx.AsyncClient,
) -> None:
    async with TelegramReceiver(chat_id=-100777) as tg:
        wrong_chat = TelegramDestination(
            "tg", tg.bot_token, 4242, client, api_url=tg.url, timeout=5, allow_private=True
        )
        with pytest.raises(DeliveryError, match="chat not found") as caught:
            await wrong_chat.send(make_alert())
        assert not caught.value.retriable
        with pytest.raises(DeliveryError, match="HTTP 401: Unauthorized") as caught:
            await _telegram(tg, client, token="1:wrongtoken").send(make_alert())
        assert not caught.value.retriable
        assert "wrongtoken" not in repr(caught.value)


async def test_telegram_token_echoed_by_a_gateway_is_scrubbed(client: httpx.AsyncClient) -> None:
    async with TelegramReceiver() as tg:
        tg.script([telegram_reply(400, f"Bad Request: bot{tg.bot_token} is odd")])
        with pytest.raises(DeliveryError) as caught:
            await _telegram(tg, client).send(make_alert())
        secret_part = tg.bot_token.partition(":")[2]
        assert secret_part not in str(caught.value)
        assert "***" in str(caught.value)


async def test_telegram_spacing_follows_chat_kind(client: httpx.AsyncClient) -> None:
    for chat, interval in ((4242, 1.0), (-100123, 3.0), ("@newsroom", 3.0)):
        dest = TelegramDestination("tg", "1:x", chat, client, timeout=5, allow_private=True)
        assert dest.min_interval == interval


async def test_telegram_api_url_on_a_private_address_is_refused(client: httpx.AsyncClient) -> None:
    async with TelegramReceiver() as tg:
        dest = TelegramDestination(
            "tg", tg.bot_token, tg.chat_id, client, api_url=tg.url, timeout=5, allow_private=False
        )
        with pytest.raises(DeliveryError, match="non-public address"):
            await dest.send(make_alert())
        assert tg.received == []
