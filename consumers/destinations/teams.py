"""Microsoft Teams through a Workflows webhook: one Adaptive Card message per alert.

The card uses RichTextBlock/TextRun for everything taken from a feed: TextRun is plain text
(no markdown), so a headline cannot turn into a link or formatting, and Teams only mentions
people through explicit mention entities, so "@everyone" in a title is just text. A Teams
message may hold about 28 KB; every payload is kept under `MAX_PAYLOAD_BYTES` by shortening
the summary (alerts) or listing fewer stories with "+N more" (digests).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from consumers.destinations import _http
from consumers.destinations._digest import (
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

# Teams refuses messages past about 28 KB ("Request Entity too large"); a margin stays free
# for what the Workflows flow adds around the card.
MAX_PAYLOAD_BYTES = 27_000
CARD_VERSION = "1.4"
TITLE_MAX = 300
SUMMARY_MAX = 6000
LINE_MAX = 1000
# A longer link is left out (the title still shows): it could not fit beside the rest.
LINK_MAX = 2000
# A digest lists at most this many stories; the rest are counted in "+N more".
DIGEST_MAX_STORIES = 100


def render_teams(alert: Alert) -> dict[str, Any]:
    """Title (bold), summary, a subtle line with feed and watchlists, and "Read more" to the link."""
    article = alert.article
    title = cut(one_line(article.title) or "(untitled)", TITLE_MAX)
    matched = "; ".join(
        f"{m.watchlist} ({', '.join(m.terms)})" if m.terms else m.watchlist for m in alert.matches
    )
    facts = cut(one_line(f"Feed: {article.feed.name} · Watchlists: {matched or '-'}"), LINE_MAX)
    link = http_link(article.link)
    if link is not None and len(link) > LINK_MAX:
        link = None
    summary = cut(article.summary.strip(), SUMMARY_MAX)
    while True:
        body = [_rich(_run(title, weight="Bolder", size="Medium"))]
        if summary:
            body.append(_rich(_run(summary)))
        body.append(_rich(_run(facts, isSubtle=True, size="Small")))
        payload = _message(body, link)
        excess = _size(payload) - MAX_PAYLOAD_BYTES
        if excess <= 0 or not summary:
            return payload
        # Each character is at least one byte; the ellipsis adds three.
        summary = cut(summary, len(summary) - excess - 3)


def render_teams_digest(digest: Digest) -> dict[str, Any]:
    """A heading, then per watchlist its stories (title linked, sources), "+N more" past the limit."""
    groups = digest_groups(digest)
    total = sum(len(entries) for _, entries in groups)
    body: list[dict[str, Any]] = [_rich(_run(digest_heading(digest), weight="Bolder"))]
    # Room for the envelope, the "+N more" line and the separators between elements.
    budget = MAX_PAYLOAD_BYTES - _size(_message(body, None)) - 200

    def heading(watchlist: str, count: int) -> dict[str, Any]:
        return _rich(_run(f"{cut(watchlist, 200)} ({count})", weight="Bolder"))

    def line(entry: Entry) -> dict[str, Any]:
        runs = [_run("• ")]
        title = _run(cut(entry.title, TITLE_MAX))
        if entry.link is not None and len(entry.link) <= LINK_MAX // 2:
            title["selectAction"] = {"type": "Action.OpenUrl", "url": entry.link}
            title["color"] = "Accent"
        runs.append(title)
        if entry.sources:
            runs.append(_run(" — " + cut(", ".join(entry.sources), 200), isSubtle=True))
        return _rich(*runs)

    parts, shown = fit_groups(
        groups, heading, line, lambda part: _size(part) + 1, budget, DIGEST_MAX_STORIES
    )
    body += parts
    if shown < total:
        body.append(_rich(_run(f"+{total - shown} more", isSubtle=True)))
    return _message(body, None)


def render_teams_health(alert: FeedHealthAlert) -> dict[str, Any]:
    body = [
        _rich(_run("Feed health", weight="Bolder")),
        _rich(_run(cut(describe(alert), SUMMARY_MAX))),
    ]
    return _message(body, None)


class TeamsDestination:
    """Posts to one Teams Workflows webhook. Its URL carries a signature (`sig=`): never shown."""

    def __init__(
        self, name: str, url: str, client: httpx.AsyncClient, *, timeout: float, allow_private: bool
    ) -> None:
        self.name = name
        # Teams throttles a webhook that posts several messages a second; one a second stays clear.
        self.min_interval = 1.0
        self._endpoint = _http.Endpoint(
            client, url, timeout, allow_private, f"teams destination {name!r}"
        )

    def __repr__(self) -> str:
        return f"TeamsDestination(name={self.name!r})"

    async def send(self, alert: Alert) -> None:
        await self._post(render_teams(alert))

    async def send_digest(self, digest: Digest) -> None:
        await self._post(render_teams_digest(digest))

    async def send_feed_health(self, alert: FeedHealthAlert) -> None:
        await self._post(render_teams_health(alert))

    async def _post(self, payload: dict[str, Any]) -> None:
        reply = await self._endpoint.post_json(payload)
        classify_teams(reply.status, reply.body, reply.retry_after, self._endpoint.what)


def classify_teams(status: int, body: str, retry_after: str | None, what: str) -> None:
    """2xx (Workflows answers 202) success; 429, 408 and 5xx retry; other answers are permanent."""
    if 200 <= status < 300:
        return
    detail = _error_code(body)
    if status == 429 or status == 503:
        raise DeliveryError(
            f"{what} is throttled (HTTP {status}{detail})",
            retriable=True,
            retry_after=_http.parse_retry_after(retry_after),
        )
    if status >= 500 or status == 408:
        raise DeliveryError(f"{what} failed (HTTP {status}{detail})", retriable=True)
    if status == 413:
        raise DeliveryError(f"{what} refused the message as too large (HTTP 413)", retriable=False)
    if 300 <= status < 400:
        raise DeliveryError(
            f"{what} redirected (HTTP {status}); redirects are not followed, fix the URL",
            retriable=False,
        )
    raise DeliveryError(f"{what} refused the message (HTTP {status}{detail})", retriable=False)


def _error_code(body: str) -> str:
    """`(InvalidRequestContent)` from a Workflows error document; nothing else of the body."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    text = body
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        code = doc["error"].get("code")
        text = code if isinstance(code, str) else ""
    word = _http.reason_word(text)
    return f" ({word})" if word else ""


def _message(body: list[dict[str, Any]], link: str | None) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if link is not None:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Read more", "url": link}]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _rich(*runs: dict[str, Any]) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(runs)}


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def _size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode())
