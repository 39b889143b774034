"""Generic webhooks signed per the Standard Webhooks specification (standardwebhooks.com)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from consumers.destinations import _http
from consumers.errors import DeliveryError
from service.models import Alert, Digest, FeedHealthAlert
from service.signing import decode_secret, sign

EVENT_TYPE = "newsalert.alert"
STORY_UPDATED = "newsalert.story.updated"


def render_webhook(alert: Alert, timestamp: int) -> bytes:
    """The JSON body: {"type": "newsalert.alert", "timestamp": ISO 8601 UTC, "data": Alert}.

    A later copy of a story (`alert.story.first` false) is a `newsalert.story.updated` event
    whose data names the story, the destination, the new copy and the story's sources.
    """
    when = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    data: dict[str, object]
    if alert.story is not None and not alert.story.first:
        kind = STORY_UPDATED
        data = {
            "story": alert.story.id,
            "destination": alert.destination,
            "article": alert.article.model_dump(mode="json"),
            "sources": alert.story.sources,
            "matches": [m.model_dump(mode="json") for m in alert.matches],
        }
    else:
        kind, data = EVENT_TYPE, alert.model_dump(mode="json")
    envelope = {"type": kind, "timestamp": when, "data": data}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def classify_webhook_response(status: int, body: str, retry_after: str | None) -> None:
    """Return on 2xx; raise DeliveryError otherwise (408, 429 and 5xx are retriable)."""
    _classify(status, body, retry_after, "the webhook")


class WebhookDestination:
    """POSTs signed alerts to one URL. The URL and the secret are never shown."""

    def __init__(
        self,
        name: str,
        url: str,
        secret: str | None,
        client: httpx.AsyncClient,
        *,
        timeout: float,
        allow_private: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if secret is not None:
            decode_secret(secret)  # fail at start-up, not at the first alert
        self.name = name
        self.min_interval = 0.0
        self._url = url
        self._secret = secret
        self._client = client
        self._timeout = timeout
        self._allow_private = allow_private
        self._clock = clock

    def __repr__(self) -> str:
        return f"WebhookDestination(name={self.name!r}, signed={self._secret is not None})"

    async def send(self, alert: Alert) -> None:
        # Each attempt gets a fresh timestamp (receivers reject stale ones) but the same id,
        # so a receiver can drop a repeat of an alert it already has.
        timestamp = int(self._clock())
        await self._post(alert.id, timestamp, render_webhook(alert, timestamp))

    async def send_digest(self, digest: Digest) -> None:
        """`newsalert.digest`; its webhook-id is the digest's, derived from destination and window."""
        from consumers.destinations.digest_render import render_webhook_digest

        timestamp = int(self._clock())
        await self._post(digest.id, timestamp, render_webhook_digest(digest, timestamp))

    async def send_feed_health(self, alert: FeedHealthAlert) -> None:
        """`newsalert.feed.failing` / `.recovered` / `.stale`, with a deterministic webhook-id."""
        from consumers.destinations.health_render import render_webhook_health

        timestamp = int(self._clock())
        await self._post(alert.id, timestamp, render_webhook_health(alert, timestamp))

    async def _post(self, message_id: str, timestamp: int, body: bytes) -> None:
        what = f"webhook destination {self.name!r}"
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
        }
        if self._secret is not None:
            headers["webhook-signature"] = sign(self._secret, message_id, timestamp, body)
        reply = await _http.post(
            self._client,
            self._url,
            content=body,
            headers=headers,
            http_timeout=self._timeout,
            allow_private=self._allow_private,
            what=what,
        )
        _classify(reply.status, reply.body, reply.retry_after, what)


def _classify(status: int, body: str, retry_after: str | None, what: str) -> None:
    if 200 <= status < 300:
        return
    word = _http.reason_word(body)
    detail = f" ({word})" if word else ""
    if status in (408, 429) or status >= 500:
        honoured = status in (429, 503)
        raise DeliveryError(
            f"{what} failed (HTTP {status}{detail})",
            retriable=True,
            retry_after=_http.parse_retry_after(retry_after) if honoured else None,
        )
    if 300 <= status < 400:
        raise DeliveryError(
            f"{what} redirected (HTTP {status}); redirects are not followed, fix the URL",
            retriable=False,
        )
    raise DeliveryError(f"{what} refused the message (HTTP {status}{detail})", retriable=False)
