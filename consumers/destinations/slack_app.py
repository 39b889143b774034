"""Slack app mode: post alerts through the Web API (`chat.postMessage`) with a bot token.

The message is the incoming-webhook one (the same Block Kit blocks and `text` fallback) sent
to a channel. What app mode adds is a handle on the message: Slack answers with the channel
id and the message's `ts`, kept per story in a `FirstMessages` store, so a later copy of the
story (an alert with `story.first` false) replies in that message's thread (`updates:
thread`) or edits it (`updates: edit`, `chat.update`) to name the feeds that also carried it.
When the first message is unknown (posted before a restart in Kafka mode, or already
forgotten), the copy is posted on its own, naming the story it belongs to.

The token is a credential: it travels only in the Authorization header and never appears in
an error, a log line or a dead letter.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Protocol

import httpx

from consumers.destinations import _http
from consumers.destinations.slack import (
    CONTEXT_ELEMENT_MAX,
    SECTION_MAX,
    TEXT_MAX,
    _escape_truncated,
    _one_line,
    _safe_link,
    render_slack,
)
from consumers.errors import DeliveryError
from service.models import Alert, Digest, FeedHealthAlert
from service.store import SlackMessage

# Web API answers echo the posted message, so they are read further than a webhook's word.
MAX_ANSWER_BYTES = 256 * 1024

# Slack errors that trying again cannot fix (https://api.slack.com/methods/chat.postMessage).
PERMANENT = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "invalid_blocks",
        "no_text",
        "restricted_action",
    }
)
# Slack's own trouble: worth another try after the backoff.
RETRIABLE = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# chat.update answers after which the copy is still worth a reply in the thread.
_NOT_EDITABLE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})

Updates = Literal["thread", "edit"] | None


class SlackApiError(DeliveryError):
    """Slack refused a Web API call; `code` is its error word (`channel_not_found`), if any."""

    def __init__(
        self, message: str, *, code: str | None, retriable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(message, retriable=retriable, retry_after=retry_after)
        self.code = code


class FirstMessages(Protocol):
    """Where each story's first message went, per destination (SQLite, or memory)."""

    async def get(self, destination: str, story_id: str) -> SlackMessage | None: ...
    async def put(self, destination: str, story_id: str, message: SlackMessage) -> None: ...


class MemoryFirstMessages:
    """First messages kept for the life of the process: Kafka mode's store for now, so a
    restart or a partition hand-over between two copies makes the later one a message of its
    own (naming the story) instead of a thread reply or an edit."""

    def __init__(self) -> None:
        self._messages: dict[tuple[str, str], SlackMessage] = {}

    async def get(self, destination: str, story_id: str) -> SlackMessage | None:
        return self._messages.get((destination, story_id))

    async def put(self, destination: str, story_id: str, message: SlackMessage) -> None:
        self._messages[(destination, story_id)] = message


def render_thread_reply(alert: Alert, channel: str, thread_ts: str | None) -> dict[str, Any]:
    """A later copy of a story: "<feed> also reported it: <title>", in the first message's
    thread when `thread_ts` is known, else on its own, saying it is an earlier story's copy."""
    article = alert.article
    title = _one_line(article.title) or "(untitled)"
    link = _safe_link(article.link)
    feed = _one_line(article.feed.name)
    shown = _escape_truncated(title, SECTION_MAX // 2)
    linked = f"<{link}|{shown}>" if link and len(link) < SECTION_MAX // 3 else shown
    lead = "Also reported by" if thread_ts else "Same story as an earlier alert, also reported by"
    section = f"{lead} *{_escape_truncated(feed, 200)}*: {linked}"
    fallback = f"{lead} {feed}: {title}" + (f" — {link}" if link else "")
    payload: dict[str, Any] = {
        "channel": channel,
        "text": _escape_truncated(fallback, TEXT_MAX),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": section}},
            {"type": "context", "elements": [_sources_element(alert)]},
        ],
        "unfurl_links": False,
    }
    if thread_ts:
        payload["thread_ts"] = thread_ts
    return payload


def render_edit(alert: Alert, first: SlackMessage) -> dict[str, Any]:
    """`chat.update` of the first message: its own text and blocks plus one context line
    naming the feeds that carried the story after it."""
    original = json.loads(first.payload)
    blocks = [b for b in original.get("blocks", []) if b.get("block_id") != "newsalert_sources"]
    element = _sources_element(alert)
    blocks.append({"type": "context", "block_id": "newsalert_sources", "elements": [element]})
    return {
        "channel": first.channel,
        "ts": first.ts,
        "text": original.get("text", ""),
        "blocks": blocks,
    }


def _sources_element(alert: Alert) -> dict[str, str]:
    sources = alert.story.sources if alert.story is not None else [alert.article.feed.name]
    if len(sources) > 1:
        text = "Also reported by: " + ", ".join(_one_line(s) for s in sources[1:])
    else:  # a re-post within the first message's own feed
        text = f"Posted again by {_one_line(alert.article.feed.name)}"
    return {"type": "mrkdwn", "text": _escape_truncated(text, CONTEXT_ELEMENT_MAX)}


def classify_slack_api(
    status: int, body: str, retry_after: str | None, what: str
) -> dict[str, Any]:
    """The Web API answer when Slack accepted the call (HTTP 200, `"ok": true`); raise
    DeliveryError saying whether trying again can help otherwise."""
    answer = _json_object(body)
    error = answer.get("error") if answer is not None else None
    word = _http.reason_word(error) if isinstance(error, str) else None
    detail = f" ({word})" if word else ""
    if status == 200 and answer is not None and answer.get("ok") is True:
        return answer
    if status == 429 or word == "ratelimited":
        raise SlackApiError(
            f"{what} is rate limited (HTTP {status}{detail})",
            code=word,
            retriable=True,
            retry_after=_http.parse_retry_after(retry_after),
        )
    if status >= 500 or status == 408 or word in RETRIABLE:
        raise SlackApiError(
            f"{what} failed (HTTP {status}{detail})",
            code=word,
            retriable=True,
            retry_after=_http.parse_retry_after(retry_after),
        )
    if word in PERMANENT:
        raise SlackApiError(f"{what} was refused by Slack ({word})", code=word, retriable=False)
    if status == 200 and answer is not None and "ok" in answer:
        raise SlackApiError(
            f"{what} was refused by Slack{detail or ' (no error named)'}",
            code=word,
            retriable=False,
        )
    if status == 200:
        raise SlackApiError(
            f"{what} answered HTTP 200 without a Web API answer, so api_url does not look like Slack's",
            code=word,
            retriable=False,
        )
    raise SlackApiError(
        f"{what} refused the message (HTTP {status}{detail})", code=word, retriable=False
    )


def _json_object(body: str) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class SlackAppDestination:
    """Posts alerts to one channel with a bot token (scope `chat:write`). The token is a
    secret: never shown."""

    def __init__(
        self,
        name: str,
        token: str,
        channel: str,
        api_url: str,
        client: httpx.AsyncClient,
        first_messages: FirstMessages,
        *,
        updates: Updates,
        timeout: float,
        allow_private: bool,
    ) -> None:
        self.name = name
        self.min_interval = 1.0  # chat.postMessage allows about one message per second per channel
        self._token = token
        self._channel = channel
        self._api_url = api_url.rstrip("/")
        self._client = client
        self._first = first_messages
        self._updates = updates
        self._timeout = timeout
        self._allow_private = allow_private
        # Stories whose first message failed and awaits a retry, in this process.
        self._failing_first: set[str] = set()

    def __repr__(self) -> str:
        return f"SlackAppDestination(name={self.name!r}, updates={self._updates!r})"

    async def send(self, alert: Alert) -> None:
        story = alert.story
        if story is not None and not story.first:
            await self._send_update(alert, story.id)
            return
        payload = {"channel": self._channel, **render_slack(alert)}
        try:
            answer = await self._call("chat.postMessage", payload)
        except DeliveryError as exc:
            if story is not None and exc.retriable:
                self._failing_first.add(story.id)
            elif story is not None:
                self._failing_first.discard(story.id)  # dead: its copies go out on their own
            raise
        if story is not None:
            self._failing_first.discard(story.id)
        channel, ts = answer.get("channel"), answer.get("ts")
        if story is not None and self._updates and isinstance(channel, str) and isinstance(ts, str):
            kept = json.dumps({"text": payload["text"], "blocks": payload["blocks"]})
            await self._first.put(self.name, story.id, SlackMessage(channel, ts, kept))

    async def send_digest(self, digest: Digest) -> None:
        from consumers.destinations.digest_render import render_slack_digest

        await self._call(
            "chat.postMessage", {"channel": self._channel, **render_slack_digest(digest)}
        )

    async def send_feed_health(self, alert: FeedHealthAlert) -> None:
        from consumers.destinations.health_render import render_slack_health

        await self._call(
            "chat.postMessage", {"channel": self._channel, **render_slack_health(alert)}
        )

    async def _send_update(self, alert: Alert, story_id: str) -> None:
        first = await self._first.get(self.name, story_id)
        if first is None and story_id in self._failing_first:
            # The first message is waiting for a retry (a retried alert is due after the
            # copies behind it): wait for it rather than post the copy on its own first.
            raise DeliveryError(
                f"slack destination {self.name!r} waits for the story's first message",
                retriable=True,
            )
        if first is None:
            await self._call("chat.postMessage", render_thread_reply(alert, self._channel, None))
            return
        if self._updates == "edit":
            try:
                await self._call("chat.update", render_edit(alert, first))
                return
            except DeliveryError as exc:
                if not isinstance(exc, SlackApiError) or exc.code not in _NOT_EDITABLE:
                    raise
        await self._call("chat.postMessage", render_thread_reply(alert, first.channel, first.ts))

    async def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        what = f"slack destination {self.name!r} ({method})"
        reply = await _http.post(
            self._client,
            f"{self._api_url}/{method}",
            content=json.dumps(payload, ensure_ascii=False).encode(),
            headers={
                "content-type": "application/json; charset=utf-8",
                "authorization": f"Bearer {self._token}",
            },
            http_timeout=self._timeout,
            allow_private=self._allow_private,
            what=what,
            max_response_bytes=MAX_ANSWER_BYTES,
        )
        return classify_slack_api(reply.status, reply.body, reply.retry_after, what)
