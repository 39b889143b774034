"""ntfy (ntfy.sh or a self-hosted server): one push notification per alert.

Published as JSON to the server root with the topic inside ("publish as JSON" in ntfy's docs)
rather than as a body with Title/Tags/Click/Priority headers: a headline is any Unicode with
any punctuation, and as a JSON string it needs no RFC 2047 encoding and cannot break out of a
header. The configured `url` is the topic URL (`https://ntfy.sh/mytopic`, or under a path for
a server behind a prefix); its last path segment is the topic, the rest is the root.

Priority needs no config: 4 (high) when the alert matched a watchlist marked `priority: true`,
and for a feed that starts failing; 3 (default) for everything else. Tags are the watchlist
names (ntfy shows a tag that is an emoji short code as that emoji).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from consumers.destinations import _http
from consumers.destinations._digest import (
    Entry,
    cut,
    cut_bytes,
    digest_groups,
    digest_heading,
    fit_groups,
    http_link,
    one_line,
)
from consumers.destinations.health_render import describe
from consumers.errors import DeliveryError
from service.models import Alert, Digest, FeedHealthAlert

# ntfy's default message-size-limit: a longer message becomes an attached text file.
MESSAGE_MAX_BYTES = 4096
TITLE_MAX = 250
MAX_TAGS = 10
TAG_MAX = 64
CLICK_MAX = 2000
PRIORITY_HIGH = 4
PRIORITY_DEFAULT = 3


def split_topic_url(url: str) -> tuple[str, str]:
    """`https://ntfy.sh/mytopic` → (`https://ntfy.sh/`, `mytopic`); ValueError when no topic."""
    parts = urlsplit(url)
    path, _, topic = parts.path.rstrip("/").rpartition("/")
    if not topic or parts.query or parts.fragment:
        raise ValueError("an ntfy url is the server and the topic, as https://ntfy.sh/mytopic")
    return urlunsplit((parts.scheme, parts.netloc, path + "/", "", "")), topic


def render_ntfy(alert: Alert, topic: str, *, priority: bool = False) -> dict[str, Any]:
    """{topic, title, message (the summary), tags, priority, click}."""
    article = alert.article
    payload: dict[str, Any] = {
        "topic": topic,
        "title": cut(one_line(article.title) or "(untitled)", TITLE_MAX),
        "message": cut_bytes(article.summary.strip() or one_line(article.title), MESSAGE_MAX_BYTES),
        "tags": _tags(m.watchlist for m in alert.matches),
        "priority": PRIORITY_HIGH if priority else PRIORITY_DEFAULT,
    }
    link = http_link(article.link)
    if link is not None and len(link) <= CLICK_MAX:
        payload["click"] = link
    return payload


def render_ntfy_digest(digest: Digest, topic: str) -> dict[str, Any]:
    """One notification: a line per story (title, sources) under its watchlist; "+N more"."""
    groups = digest_groups(digest)
    total = sum(len(entries) for _, entries in groups)

    def line(entry: Entry) -> str:
        sources = f" — {cut(', '.join(entry.sources), 120)}" if entry.sources else ""
        return f"• {cut(entry.title, 200)}{sources}"

    lines, shown = fit_groups(
        groups,
        lambda watchlist, count: f"{cut(watchlist, 100)} ({count})",
        line,
        lambda text: len(text.encode()) + 1,
        MESSAGE_MAX_BYTES - 40,  # kept for the "+N more" line
    )
    if shown < total:
        lines.append(f"+{total - shown} more")
    return {
        "topic": topic,
        "title": cut(digest_heading(digest), TITLE_MAX),
        "message": cut_bytes("\n".join(lines) or "-", MESSAGE_MAX_BYTES),
        "tags": _tags(name for name, _ in groups),
        "priority": PRIORITY_DEFAULT,
    }


def render_ntfy_health(alert: FeedHealthAlert, topic: str) -> dict[str, Any]:
    what = alert.type.rsplit(".", 1)[1]
    subject = cut(one_line(alert.feed), 100) if alert.feed else f"{len(alert.feeds)} feeds"
    return {
        "topic": topic,
        "title": f"Feed health: {subject} {what}",
        "message": cut_bytes(describe(alert), MESSAGE_MAX_BYTES),
        "tags": ["warning" if what != "recovered" else "white_check_mark", "feed_health"],
        "priority": PRIORITY_HIGH if what == "failing" else PRIORITY_DEFAULT,
    }


class NtfyDestination:
    """Publishes to one ntfy topic. The topic URL (a topic is a password) and token: never shown."""

    def __init__(
        self,
        name: str,
        url: str,
        token: str | None,
        client: httpx.AsyncClient,
        *,
        timeout: float,
        allow_private: bool,
        priority_watchlists: Collection[str] = (),
    ) -> None:
        self.name = name
        # ntfy.sh refills a visitor's request budget a few seconds at a time; one a second
        # keeps a burst of alerts from being refused with 429.
        self.min_interval = 1.0
        root, self._topic = split_topic_url(url)
        self._token = token
        self._endpoint = _http.Endpoint(
            client, root, timeout, allow_private, f"ntfy destination {name!r}"
        )
        self._priority = frozenset(priority_watchlists)

    def __repr__(self) -> str:
        return f"NtfyDestination(name={self.name!r}, token={self._token is not None})"

    async def send(self, alert: Alert) -> None:
        priority = any(m.watchlist in self._priority for m in alert.matches)
        await self._post(render_ntfy(alert, self._topic, priority=priority))

    async def send_digest(self, digest: Digest) -> None:
        await self._post(render_ntfy_digest(digest, self._topic))

    async def send_feed_health(self, alert: FeedHealthAlert) -> None:
        await self._post(render_ntfy_health(alert, self._topic))

    async def _post(self, payload: dict[str, Any]) -> None:
        headers = {} if self._token is None else {"authorization": f"Bearer {self._token}"}
        reply = await self._endpoint.post_json(payload, headers=headers)
        classify_ntfy(reply.status, reply.body, reply.retry_after, self._endpoint.what)


def classify_ntfy(status: int, body: str, retry_after: str | None, what: str) -> None:
    """2xx success; 429 (waiting Retry-After when sent), 408 and 5xx retry; other 4xx permanent.

    ntfy answers errors as {"code": 40101, "http": 401, "error": "unauthorized", ...}; only the
    numeric code is repeated, since the text is ntfy's and could change.
    """
    if 200 <= status < 300:
        return
    code = _error_code(body)
    if status == 429:
        raise DeliveryError(
            f"{what} is rate limited (HTTP 429{code})",
            retriable=True,
            retry_after=_http.parse_retry_after(retry_after),
        )
    if status >= 500 or status == 408:
        raise DeliveryError(
            f"{what} failed (HTTP {status}{code})",
            retriable=True,
            retry_after=_http.parse_retry_after(retry_after) if status == 503 else None,
        )
    hints = {
        401: "; the token is missing or wrong",
        403: "; the token may not publish to this topic",
        413: "; the message is too large for this server",
    }
    if 300 <= status < 400:
        raise DeliveryError(
            f"{what} redirected (HTTP {status}); redirects are not followed, fix the URL",
            retriable=False,
        )
    raise DeliveryError(
        f"{what} refused the message (HTTP {status}{code}){hints.get(status, '')}",
        retriable=False,
    )


def _error_code(body: str) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    code = doc.get("code") if isinstance(doc, dict) else None
    return f", ntfy code {code}" if isinstance(code, int) and not isinstance(code, bool) else ""


def _tags(names: Iterable[str]) -> list[str]:
    tags: list[str] = []
    for name in names:
        tag = cut(one_line(name).replace(",", " "), TAG_MAX)
        if tag and tag not in tags:
            tags.append(tag)
    return tags[:MAX_TAGS]
