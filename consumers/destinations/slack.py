"""Slack incoming webhooks: render an alert as Block Kit, post it, classify Slack's answer."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from consumers.destinations import _http
from consumers.errors import DeliveryError
from service.models import Alert, Digest, FeedHealthAlert

# Slack's documented limits (Block Kit reference; top-level text is cut past 40,000).
HEADER_MAX = 150
SECTION_MAX = 3000
CONTEXT_ELEMENT_MAX = 3000
TEXT_MAX = 40000
MAX_BLOCKS = 50
ELLIPSIS = "…"

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def render_slack(alert: Alert) -> dict[str, Any]:
    """The webhook payload: header (title), section (summary and link), context (feed,
    time, watchlists and terms), and a plain `text` fallback for notifications.

    mrkdwn and `text` fields escape &, < and > (Slack's control characters, so a headline
    cannot ping `<!channel>`); the plain_text header is shown verbatim and is not escaped.
    """
    article = alert.article
    title = _one_line(article.title) or "(untitled)"
    link = _safe_link(article.link)

    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _truncate(title, HEADER_MAX), "emoji": True},
        }
    ]
    more = f"\n<{link}|Read more>" if link else ""
    if len(more) > SECTION_MAX // 2:
        more = ""  # an absurdly long link would crowd out the summary; `text` still has it
    summary = _escape_truncated(article.summary.strip(), SECTION_MAX - len(more))
    section = (summary + more).strip()
    if section:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": section}})
    blocks.append({"type": "context", "elements": _context_elements(alert)})

    fallback = f"{title} — {link}" if link else title
    return {"text": _escape_truncated(fallback, TEXT_MAX), "blocks": blocks[:MAX_BLOCKS]}


def classify_slack_response(status: int, body: str, retry_after: str | None) -> None:
    """Return when Slack accepted the message (HTTP 200, body `ok`); raise DeliveryError
    saying whether trying again can help otherwise."""
    _classify(status, body, retry_after, "Slack")


class SlackDestination:
    """Posts alerts to one Slack incoming webhook. The URL is a secret: never shown."""

    def __init__(
        self,
        name: str,
        url: str,
        client: httpx.AsyncClient,
        *,
        timeout: float,
        allow_private: bool,
    ) -> None:
        self.name = name
        self.min_interval = 1.0  # Slack allows about one message per second per webhook
        self._url = url
        self._client = client
        self._timeout = timeout
        self._allow_private = allow_private

    def __repr__(self) -> str:
        return f"SlackDestination(name={self.name!r})"

    async def send(self, alert: Alert) -> None:
        await self._post(render_slack(alert))

    async def send_digest(self, digest: Digest) -> None:
        from consumers.destinations.digest_render import render_slack_digest  # it imports us

        await self._post(render_slack_digest(digest))

    async def send_feed_health(self, alert: FeedHealthAlert) -> None:
        from consumers.destinations.health_render import render_slack_health

        await self._post(render_slack_health(alert))

    async def _post(self, payload: dict[str, Any]) -> None:
        what = f"slack destination {self.name!r}"
        body = json.dumps(payload, ensure_ascii=False).encode()
        reply = await _http.post(
            self._client,
            self._url,
            content=body,
            headers={"content-type": "application/json"},
            http_timeout=self._timeout,
            allow_private=self._allow_private,
            what=what,
        )
        _classify(reply.status, reply.body, reply.retry_after, what)


def _classify(status: int, body: str, retry_after: str | None, what: str) -> None:
    word = _http.reason_word(body)
    detail = f" ({word})" if word else ""
    if status == 200 and body.strip() == "ok":
        return
    if status == 429:
        raise DeliveryError(
            f"{what} is rate limited (HTTP 429)",
            retriable=True,
            retry_after=_http.parse_retry_after(retry_after),
        )
    if body.strip().startswith("invalid_"):
        raise DeliveryError(f"{what} rejected the message (HTTP {status}{detail})", retriable=False)
    if status in (403, 404, 410):
        raise DeliveryError(
            f"{what} refused the message (HTTP {status}{detail}); "
            "the webhook or its channel is gone or forbidden",
            retriable=False,
        )
    if status >= 500 or status == 408:
        raise DeliveryError(
            f"{what} failed (HTTP {status}{detail})",
            retriable=True,
            retry_after=_http.parse_retry_after(retry_after),
        )
    if 200 <= status < 300:
        raise DeliveryError(
            f"{what} answered HTTP {status} without 'ok', so it does not look like a Slack webhook",
            retriable=False,
        )
    raise DeliveryError(f"{what} refused the message (HTTP {status}{detail})", retriable=False)


def _context_elements(alert: Alert) -> list[dict[str, Any]]:
    article = alert.article
    if article.published is not None:
        when = f"published {_slack_date(article.published)}"
    else:
        when = f"seen {_slack_date(article.fetched_at)}"
    matched = "; ".join(
        f"{m.watchlist}: {', '.join(m.terms)}" if m.terms else m.watchlist for m in alert.matches
    )
    texts = [_escape_truncated(_one_line(article.feed.name), CONTEXT_ELEMENT_MAX), when]
    if matched:
        texts.append(_escape_truncated(_one_line(matched), CONTEXT_ELEMENT_MAX))
    return [{"type": "mrkdwn", "text": text} for text in texts if text]


def _slack_date(moment: datetime) -> str:
    # Slack shows <!date^...> in each reader's own time zone; the fallback is UTC.
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _safe_link(link: str) -> str | None:
    """The link as it may appear inside <...|...>, or None when it is not http(s)."""
    link = link.strip()
    parts = urlsplit(link)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # `|` and `>` end Slack's link syntax early; whitespace breaks it.
    link = quote(link, safe=":/?#[]@!$&'()*+,;=%~")
    return link.replace("&", "&amp;")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def _escape_truncated(text: str, limit: int) -> str:
    """Escape, then fit into `limit` characters without cutting an entity in half."""
    escaped = _escape(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    size = 0
    for c in text:
        piece = _ESCAPES.get(c, c)
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) + ELLIPSIS
