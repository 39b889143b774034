"""Telegram through the Bot API: `sendMessage` with HTML parse mode, one message per alert.

Everything taken from a feed goes through `html.escape`, so a headline holding `<b>` or `&`
is shown as typed and cannot break the parse (Telegram refuses the whole message on a bad
tag). A message may hold 4,096 characters after entity parsing; the HTML source is kept within
that many UTF-16 code units (how Telegram counts), which is stricter, and is cut only between
escaped characters, never inside an entity or a tag.

The bot token sits in the request path. Nothing here puts the URL into an error, and the
description Telegram returns is scrubbed of the token before it is repeated.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import Any

import httpx

from consumers.destinations import _http
from consumers.destinations._digest import (
    ELLIPSIS,
    Entry,
    cut,
    digest_groups,
    digest_heading,
    fit_groups,
    http_link,
    one_line,
)
from consumers.destinations.health_render import describe
from consumers.errors import DeliveryError
from service.models import Alert, Digest, FeedHealthAlert

TEXT_MAX = 4096
# Caps in UTF-16 units after escaping: title, facts line and link together stay below half
# the message, whatever the feed sends.
TITLE_MAX = 600
LINE_MAX = 600
LINK_MAX = 800
DIGEST_LINK_MAX = 400
DEFAULT_API_URL = "https://api.telegram.org"


def units(text: str) -> int:
    """Length in UTF-16 code units, as Telegram measures messages."""
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def escape_cut(text: str, limit: int) -> str:
    """Escape `text` into at most `limit` UTF-16 units, cutting between characters (…)."""
    escaped = escape(text)
    if units(escaped) <= limit:
        return escaped
    room = limit - units(ELLIPSIS)
    out: list[str] = []
    size = 0
    for c in text:
        piece = escape(c)
        if size + units(piece) > room:
            break
        out.append(piece)
        size += units(piece)
    return "".join(out) + ELLIPSIS if room > 0 else ""


def render_telegram(alert: Alert, chat_id: str | int) -> dict[str, Any]:
    """<b>title</b>, the summary, a line with feed and watchlists, and the link.

    Title, facts line and link are capped after escaping, so whatever a feed sends they leave
    the summary room and the whole stays within the limit.
    """
    article = alert.article
    title = f"<b>{escape_cut(one_line(article.title) or '(untitled)', TITLE_MAX)}</b>"
    matched = "; ".join(
        f"{m.watchlist} ({', '.join(m.terms)})" if m.terms else m.watchlist for m in alert.matches
    )
    facts = escape_cut(one_line(f"{article.feed.name} · {matched or '-'}"), LINE_MAX)
    tail = f"\n\n<i>{facts}</i>"
    href = _href(article.link)
    if href is not None:
        tail += f'\n<a href="{href}">Read more</a>'
    room = TEXT_MAX - units(title) - units(tail) - 1
    summary = escape_cut(article.summary.strip(), room)
    text = f"{title}\n{summary}{tail}" if summary else f"{title}{tail}"
    return _message(chat_id, text)


def _href(link: str) -> str | None:
    """The escaped link for href="…", or None when it is not http(s) or absurdly long."""
    safe = http_link(link)
    if safe is None or units(escape(safe)) > LINK_MAX:
        return None
    return escape(safe)


def render_telegram_digest(digest: Digest, chat_id: str | int) -> dict[str, Any]:
    """A heading, then per watchlist its stories (linked title, sources); "+N more" past 4,096."""
    groups = digest_groups(digest)
    total = sum(len(entries) for _, entries in groups)
    head = f"<b>{escape(digest_heading(digest))}</b>"

    def line(entry: Entry) -> str:
        title = escape_cut(entry.title, 400)
        href = _href(entry.link) if entry.link is not None else None
        if href is not None and units(href) <= DIGEST_LINK_MAX:
            title = f'<a href="{href}">{title}</a>'
        sources = f" — {escape_cut(', '.join(entry.sources), 240)}" if entry.sources else ""
        return f"• {title}{sources}"

    parts, shown = fit_groups(
        groups,
        lambda watchlist, count: f"\n<b>{escape_cut(watchlist, 200)}</b> ({count})",
        line,
        lambda text: units(text) + 1,
        TEXT_MAX - 40 - units(head),  # kept for "+N more"
    )
    lines = [head, *parts]
    if shown < total:
        lines.append(f"\n+{total - shown} more")
    return _message(chat_id, "\n".join(lines))


def render_telegram_health(alert: FeedHealthAlert, chat_id: str | int) -> dict[str, Any]:
    head = "<b>Feed health</b>\n"
    return _message(chat_id, head + escape_cut(describe(alert), TEXT_MAX - units(head)))


def _message(chat_id: str | int, text: str) -> dict[str, Any]:
    return {
        "chat_id": chat_id,
        "text": text,
        "parse_mode": "HTML",
        # Alerts carry their own title and summary; a preview would only repeat them.
        "link_preview_options": {"is_disabled": True},
    }


class TelegramDestination:
    """Sends to one Telegram chat through one bot. The token is a secret: never shown."""

    def __init__(
        self,
        name: str,
        bot_token: str,
        chat_id: str | int,
        client: httpx.AsyncClient,
        *,
        api_url: str = DEFAULT_API_URL,
        timeout: float,
        allow_private: bool,
    ) -> None:
        self.name = name
        # Telegram allows about one message a second to a chat, 20 a minute to a group or
        # channel (a negative chat id or an @channel name).
        self.min_interval = 3.0 if str(chat_id).startswith(("-", "@")) else 1.0
        self._token = bot_token
        self._chat_id = chat_id
        self._endpoint = _http.Endpoint(
            client,
            f"{api_url.rstrip('/')}/bot{bot_token}/sendMessage",
            timeout,
            allow_private,
            f"telegram destination {name!r}",
        )

    def __repr__(self) -> str:
        return f"TelegramDestination(name={self.name!r})"

    async def send(self, alert: Alert) -> None:
        await self._post(render_telegram(alert, self._chat_id))

    async def send_digest(self, digest: Digest) -> None:
        await self._post(render_telegram_digest(digest, self._chat_id))

    async def send_feed_health(self, alert: FeedHealthAlert) -> None:
        await self._post(render_telegram_health(alert, self._chat_id))

    async def _post(self, payload: dict[str, Any]) -> None:
        reply = await self._endpoint.post_json(payload)
        classify_telegram(
            reply.status,
            reply.body,
            reply.retry_after,
            self._endpoint.what,
            secrets=[self._token, self._token.partition(":")[2]],
        )


def classify_telegram(
    status: int, body: str, retry_after: str | None, what: str, *, secrets: Iterable[str] = ()
) -> None:
    """200 with `"ok": true` is success; 429 waits `parameters.retry_after`; 5xx retry;
    other answers (400 chat not found, 401 bad token, 403 bot blocked, 404) are permanent."""
    doc = _json(body)
    if status == 200 and doc.get("ok") is True:
        return
    found = doc.get("parameters")
    params: dict[str, Any] = found if isinstance(found, dict) else {}
    reason = _description(doc, secrets)
    if status == 429:
        wait = params.get("retry_after")
        seconds = (
            min(float(wait), 86400.0)
            if isinstance(wait, int | float) and not isinstance(wait, bool)
            else _http.parse_retry_after(retry_after)
        )
        raise DeliveryError(
            f"{what} is rate limited (HTTP 429{reason})", retriable=True, retry_after=seconds
        )
    if status >= 500 or status == 408:
        raise DeliveryError(f"{what} failed (HTTP {status}{reason})", retriable=True)
    if isinstance(params.get("migrate_to_chat_id"), int):
        raise DeliveryError(
            f"{what} refused the message (HTTP {status}{reason}); the group is now a "
            f"supergroup: set chat_id to {params['migrate_to_chat_id']}",
            retriable=False,
        )
    if status == 200:
        raise DeliveryError(
            f"{what} answered HTTP 200 without ok: true, so it does not look like the Bot API",
            retriable=False,
        )
    raise DeliveryError(f"{what} refused the message (HTTP {status}{reason})", retriable=False)


def _json(body: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _description(doc: dict[str, Any], secrets: Iterable[str]) -> str:
    """`: Bad Request: chat not found`, scrubbed of secrets, one short line; or nothing."""
    text = doc.get("description")
    if not isinstance(text, str):
        return ""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = cut(one_line("".join(c for c in text if c.isprintable())), 160)
    return f": {text}" if text else ""
