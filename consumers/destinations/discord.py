"""Discord webhooks: render an alert, a digest or a feed health alert as one embed within
Discord's limits, classify answers."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from consumers.destinations import _http
from consumers.destinations._digest import Entry, cut, digest_groups, digest_heading, fit_groups
from consumers.destinations.health_render import describe
from consumers.errors import DeliveryError
from service.models import Alert, Digest, FeedHealthAlert

# Discord's documented embed limits.
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
TOTAL_MAX = 6000


def render_discord(alert: Alert) -> dict[str, Any]:
    """One embed: title (linked), summary, watchlists field, feed footer, timestamp.

    `allowed_mentions` is empty, so a headline holding @everyone pings nobody.
    """
    article = alert.article
    title = cut(" ".join(article.title.split()) or "(untitled)", TITLE_MAX)
    matched = "; ".join(
        f"{m.watchlist}: {', '.join(m.terms)}" if m.terms else m.watchlist for m in alert.matches
    )
    footer = cut(" ".join(article.feed.name.split()), FOOTER_MAX)
    value = cut(matched or "-", FIELD_VALUE_MAX)
    room = TOTAL_MAX - len(title) - len(footer) - len(value) - len("Watchlists")
    description = cut(article.summary.strip(), min(DESCRIPTION_MAX, max(room, 0)))
    embed: dict[str, Any] = {
        "title": title,
        "fields": [{"name": "Watchlists", "value": value}],
        "footer": {"text": footer},
        "timestamp": (article.published or article.fetched_at).isoformat(),
    }
    if description:
        embed["description"] = description
    parts = urlsplit(article.link.strip())
    if parts.scheme in ("http", "https") and parts.netloc:
        embed["url"] = article.link.strip()
    return {"embeds": [embed], "allowed_mentions": {"parse": []}}


def render_discord_digest(digest: Digest) -> dict[str, Any]:
    """One embed: the heading as title, then per watchlist its stories as linked titles with
    their sources, within the description's 4,096 characters; "+N more" past that."""
    groups = digest_groups(digest)
    total = sum(len(entries) for _, entries in groups)
    title = cut(digest_heading(digest), TITLE_MAX)

    def line(entry: Entry) -> str:
        label = _escape_md(cut(entry.title, 200))
        if entry.link is not None and len(entry.link) <= 500:
            label = f"[{label}]({_md_url(entry.link)})"
        sources = f" — {_escape_md(cut(', '.join(entry.sources), 120))}" if entry.sources else ""
        return f"• {label}{sources}"

    lines, shown = fit_groups(
        groups,
        lambda watchlist, count: f"**{_escape_md(cut(watchlist, 100))}** ({count})",
        line,
        lambda text: len(text) + 1,
        DESCRIPTION_MAX - 40,  # kept for "+N more"
    )
    if shown < total:
        lines.append(f"+{total - shown} more")
    embed = {"title": title, "description": "\n".join(lines) or "-"}
    return {"embeds": [embed], "allowed_mentions": {"parse": []}}


def render_discord_health(alert: FeedHealthAlert) -> dict[str, Any]:
    """One embed titled "Feed health", red while failing or stale, green on recovery."""
    recovered = alert.type.endswith(".recovered")
    embed = {
        "title": "Feed health",
        "description": cut(_escape_md(describe(alert)), DESCRIPTION_MAX),
        "color": 0x2E7D32 if recovered else 0xC62828,
        "timestamp": alert.at.isoformat(),
    }
    return {"embeds": [embed], "allowed_mentions": {"parse": []}}


class DiscordDestination:
    """Posts alerts to one Discord webhook. The URL holds the webhook token: never shown."""

    def __init__(
        self, name: str, url: str, client: httpx.AsyncClient, *, timeout: float, allow_private: bool
    ) -> None:
        self.name = name
        self.min_interval = 1.0  # Discord allows about 5 requests per 5 s per webhook
        self._endpoint = _http.Endpoint(
            client, url, timeout, allow_private, f"discord destination {name!r}"
        )

    def __repr__(self) -> str:
        return f"DiscordDestination(name={self.name!r})"

    async def send(self, alert: Alert) -> None:
        await self._post(render_discord(alert))

    async def send_digest(self, digest: Digest) -> None:
        await self._post(render_discord_digest(digest))

    async def send_feed_health(self, alert: FeedHealthAlert) -> None:
        await self._post(render_discord_health(alert))

    async def _post(self, payload: dict[str, Any]) -> None:
        reply = await self._endpoint.post_json(payload)
        classify_discord(reply.status, reply.body, reply.retry_after, self._endpoint.what)


def classify_discord(status: int, body: str, retry_after: str | None, what: str) -> None:
    """2xx success; 429 waits JSON `retry_after` (else the header); 5xx retry; 4xx permanent."""
    if 200 <= status < 300:
        return
    if status == 429:
        wait = _http.parse_retry_after(retry_after)
        try:
            doc = json.loads(body)
            if isinstance(doc, dict) and isinstance(doc.get("retry_after"), int | float):
                wait = min(float(doc["retry_after"]), 86400.0)
        except ValueError:
            pass
        raise DeliveryError(f"{what} is rate limited (HTTP 429)", retriable=True, retry_after=wait)
    if status >= 500 or status == 408:
        raise DeliveryError(f"{what} failed (HTTP {status})", retriable=True)
    raise DeliveryError(f"{what} refused the message (HTTP {status})", retriable=False)


_MD_SPECIAL = set("\\*_~`|[]()<>#")


def _escape_md(text: str) -> str:
    """Backslash before Discord's markdown characters, so a title shows as typed."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def _md_url(link: str) -> str:
    """The link as it may stand inside `(...)` of a markdown link."""
    return link.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
