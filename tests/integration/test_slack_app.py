"""Slack app mode against a local Web API: posts, thread replies, edits, failures, secrets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from consumers.destinations.slack_app import (
    FirstMessages,
    MemoryFirstMessages,
    SlackAppDestination,
    Updates,
)
from consumers.errors import DeliveryError
from service.models import (
    Alert,
    Article,
    Digest,
    DigestWindow,
    FeedHealthAlert,
    FeedRef,
    StoryRef,
    WatchlistMatch,
)
from service.store import Store
from tests.support.slack_api import SlackApi

CHANNEL = "#markets"


def alert(
    feed: str = "wire",
    title: str = "PBoC cuts the reserve requirement ratio",
    *,
    story: StoryRef | None = None,
    alert_id: str = "alert-1",
) -> Alert:
    article = Article(
        id=f"{feed}-article",
        feed=FeedRef(name=feed, url=f"https://{feed}.example/rss"),
        title=title,
        summary="China's central bank cut the ratio by 50 basis points & more <soon>.",
        link=f"https://{feed}.example/pboc",
        published=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
        fetched_at=datetime(2026, 12, 2, 9, 1, tzinfo=UTC),
    )
    return Alert(
        id=alert_id,
        destination="markets",
        article=article,
        matches=[WatchlistMatch(watchlist="china", terms=["PBoC", "China"])],
        created_at=datetime(2026, 12, 2, 9, 1, tzinfo=UTC),
        story=story,
    )


FIRST = StoryRef(id="story-1", sources=["wire"])
COPY = StoryRef(id="story-1", sources=["wire", "desk"], first=False)


@pytest.fixture
async def slack() -> AsyncIterator[SlackApi]:
    async with SlackApi() as api:
        yield api


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "newsalert.db")
    yield opened
    await opened.close()


def destination(
    slack: SlackApi,
    client: httpx.AsyncClient,
    first: FirstMessages | None = None,
    *,
    updates: Updates = "thread",
    token: str | None = None,
    allow_private: bool = True,
) -> SlackAppDestination:
    return SlackAppDestination(
        "markets",
        token if token is not None else slack.token,
        CHANNEL,
        slack.url,
        client,
        first if first is not None else MemoryFirstMessages(),
        updates=updates,
        timeout=5.0,
        allow_private=allow_private,
    )


def assert_secret_kept(error: DeliveryError, *secrets: str) -> None:
    for text in (str(error), repr(error)):
        for secret in secrets:
            assert secret not in text


async def test_an_alert_is_one_chat_post_message_with_the_webhook_blocks(
    slack: SlackApi, client: httpx.AsyncClient
) -> None:
    await destination(slack, client).send(alert(story=FIRST))

    [call] = slack.calls
    assert call.method == "chat.postMessage"
    assert call.headers["authorization"] == f"Bearer {slack.token}"
    assert call.headers["content-type"].startswith("application/json")
    payload = call.payload
    assert payload["channel"] == CHANNEL
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "PBoC cuts the reserve requirement ratio",
            "emoji": True,
        },
    }
    assert "&amp; more &lt;soon&gt;" in payload["blocks"][1]["text"]["text"]
    assert payload["text"] == "PBoC cuts the reserve requirement ratio — https://wire.example/pboc"
    [message] = slack.top_level()
    assert message.channel == SlackApi.channel_id(CHANNEL)


async def test_a_later_copy_replies_in_the_first_messages_thread(
    slack: SlackApi, client: httpx.AsyncClient, store: Store
) -> None:
    dest = destination(slack, client, store.slack_messages, updates="thread")
    await dest.send(alert(story=FIRST))
    await dest.send(alert("desk", "China's central bank lowers RRR", story=COPY, alert_id="u-1"))

    [first] = slack.top_level()
    [reply_ts] = first.replies
    reply = slack.messages[(first.channel, reply_ts)]
    assert reply.thread_ts == first.ts
    assert "Also reported by *desk*" in reply.blocks[0]["text"]["text"]
    assert "China's central bank lowers RRR" in reply.text
    assert reply.blocks[1]["elements"][0]["text"] == "Also reported by: desk"
    [post, threaded] = slack.calls_to("chat.postMessage")
    assert threaded.payload["channel"] == first.channel  # the id Slack returned, not the name
    print(json.dumps({"chat.postMessage": post.payload, "thread reply": threaded.payload}))


async def test_the_thread_survives_a_new_destination_on_the_same_store(
    slack: SlackApi, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = tmp_path / "restart.db"
    before = await Store.open(path)
    await destination(slack, client, before.slack_messages).send(alert(story=FIRST))
    await before.close()
    after = await Store.open(path)
    try:
        await destination(slack, client, after.slack_messages).send(
            alert("desk", story=COPY, alert_id="u-1")
        )
    finally:
        await after.close()
    [first] = slack.top_level()
    assert len(first.replies) == 1


async def test_edit_mode_updates_the_first_message_naming_the_other_feeds(
    slack: SlackApi, client: httpx.AsyncClient, store: Store
) -> None:
    dest = destination(slack, client, store.slack_messages, updates="edit")
    await dest.send(alert(story=FIRST))
    await dest.send(alert("desk", story=COPY, alert_id="u-1"))
    third = StoryRef(id="story-1", sources=["wire", "desk", "wsj"], first=False)
    await dest.send(alert("wsj", story=third, alert_id="u-2"))

    [message] = slack.messages.values()  # no new message, no reply
    assert message.edits == 2
    assert message.blocks[0]["text"]["text"] == "PBoC cuts the reserve requirement ratio"
    assert message.blocks[-1]["elements"][0]["text"] == "Also reported by: desk, wsj"
    assert sum(b.get("block_id") == "newsalert_sources" for b in message.blocks) == 1
    [update, _] = slack.calls_to("chat.update")
    assert update.payload["channel"] == message.channel
    assert update.payload["ts"] == message.ts
    print(json.dumps({"chat.update": update.payload}))


async def test_an_edit_past_slacks_edit_window_becomes_a_thread_reply(
    slack: SlackApi, client: httpx.AsyncClient
) -> None:
    dest = destination(slack, client, updates="edit")
    await dest.send(alert(story=FIRST))
    slack.fail_next("edit_window_closed")
    await dest.send(alert("desk", story=COPY, alert_id="u-1"))
    [first] = slack.top_level()
    assert len(first.replies) == 1


async def test_a_copy_whose_first_message_is_unknown_is_posted_naming_the_story(
    slack: SlackApi, client: httpx.AsyncClient
) -> None:
    await destination(slack, client).send(alert("desk", story=COPY, alert_id="u-1"))
    [message] = slack.top_level()
    assert message.thread_ts is None
    assert "Same story as an earlier alert, also reported by desk" in message.text


@pytest.mark.parametrize(
    ("failure", "wait"),
    [("ratelimited", 1.0), ("http_429", 1.0), ("server_error", None), ("internal_error", None)],
)
async def test_slack_trouble_is_retried_and_then_delivered(
    slack: SlackApi, client: httpx.AsyncClient, failure: str, wait: float | None
) -> None:
    dest = destination(slack, client)
    slack.fail_next(failure)
    with pytest.raises(DeliveryError) as caught:
        await dest.send(alert(story=FIRST))
    assert caught.value.retriable
    assert caught.value.retry_after == wait
    assert_secret_kept(caught.value, slack.token)
    await dest.send(alert(story=FIRST))
    assert len(slack.top_level()) == 1


@pytest.mark.parametrize(
    "failure",
    [
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "token_revoked",
        "msg_too_long",
    ],
)
async def test_answers_that_cannot_improve_are_permanent_and_named(
    slack: SlackApi, client: httpx.AsyncClient, failure: str
) -> None:
    slack.fail_next(failure)
    with pytest.raises(DeliveryError) as caught:
        await destination(slack, client).send(alert(story=FIRST))
    assert not caught.value.retriable
    assert (
        str(caught.value)
        == f"slack destination 'markets' (chat.postMessage) was refused by Slack ({failure})"
    )
    assert_secret_kept(caught.value, slack.token)


async def test_a_wrong_token_is_permanent_and_not_shown(
    slack: SlackApi, client: httpx.AsyncClient
) -> None:
    wrong = "xoxb-not-the-right-one-0000"
    dest = destination(slack, client, token=wrong)
    with pytest.raises(DeliveryError) as caught:
        await dest.send(alert())
    assert "invalid_auth" in str(caught.value)
    assert not caught.value.retriable
    assert_secret_kept(caught.value, wrong, slack.token)
    assert wrong not in repr(dest)


async def test_malformed_blocks_are_refused_permanently(
    slack: SlackApi, client: httpx.AsyncClient
) -> None:
    # An empty title and summary still render a header Slack takes ("(untitled)").
    await destination(slack, client).send(alert(title="   "))
    assert slack.top_level()[0].blocks[0]["text"]["text"] == "(untitled)"
    body = json.dumps({"channel": CHANNEL, "blocks": [{"type": "header", "text": "x"}]})
    reply = await client.post(
        f"{slack.url}/chat.postMessage",
        content=body,
        headers={"authorization": f"Bearer {slack.token}", "content-type": "application/json"},
    )
    assert reply.json() == {"ok": False, "error": "invalid_blocks"}  # as Slack would refuse it


async def test_a_private_api_url_is_refused_unless_allowed(
    slack: SlackApi, client: httpx.AsyncClient
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await destination(slack, client, allow_private=False).send(alert())
    assert not caught.value.retriable
    assert "non-public address" in str(caught.value)
    assert slack.calls == []


async def test_digests_and_feed_health_alerts_are_posted_to_the_channel(
    slack: SlackApi, client: httpx.AsyncClient
) -> None:
    dest = destination(slack, client)
    window = DigestWindow(
        start=datetime(2026, 12, 2, 8, tzinfo=UTC), end=datetime(2026, 12, 2, 9, tzinfo=UTC)
    )
    await dest.send_digest(
        Digest(id="d-1", destination="markets", window=window, alerts=[alert(), alert("desk")])
    )
    await dest.send_feed_health(
        FeedHealthAlert(
            id="h-1",
            type="newsalert.feed.failing",
            feed="wire",
            at=datetime(2026, 12, 2, 9, tzinfo=UTC),
            error="HTTP 503",
            http_status=503,
        )
    )
    digest, health = slack.top_level()
    assert "PBoC cuts the reserve requirement ratio" in json.dumps(digest.blocks)
    assert "wire" in health.text
    assert all(c.payload["channel"] == CHANNEL for c in slack.calls)


async def test_a_copy_waits_while_the_first_message_is_being_retried(
    slack: SlackApi, client: httpx.AsyncClient
) -> None:
    dest = destination(slack, client)
    slack.fail_next("ratelimited")
    with pytest.raises(DeliveryError):
        await dest.send(alert(story=FIRST))
    # The copy comes up before the first message's retry: it is held back, not posted alone.
    with pytest.raises(DeliveryError) as caught:
        await dest.send(alert("desk", story=COPY, alert_id="u-1"))
    assert caught.value.retriable
    await dest.send(alert(story=FIRST))
    await dest.send(alert("desk", story=COPY, alert_id="u-1"))
    [first] = slack.top_level()
    assert len(first.replies) == 1


async def test_a_repost_in_the_same_feed_is_not_called_another_source(
    slack: SlackApi, client: httpx.AsyncClient
) -> None:
    dest = destination(slack, client, updates="edit")
    await dest.send(alert(story=FIRST))
    again = StoryRef(id="story-1", sources=["wire"], first=False)
    await dest.send(alert(story=again, alert_id="u-1"))
    [message] = slack.messages.values()
    assert message.blocks[-1]["elements"][0]["text"] == "Posted again by wire"
