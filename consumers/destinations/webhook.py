"""Generic webhooks signed per the Standard Webhooks specification (standardwebhooks.com)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from consumers.destinations import _http
from consumers.errors import DeliveryError
from service.models import Alert

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix, not a credential
EVENT_TYPE = "newsalert.alert"


def decode_base64_secret(secret: str) -> bytes | None:
    """The key of `whsec_<base64>` (the spec's form) or of bare base64; None if not base64."""
    return _b64decode(secret.removeprefix(SECRET_PREFIX))


def decode_secret(secret: str) -> bytes:
    """The HMAC key: `whsec_<base64>` or bare base64 are decoded; any other string is used as
    raw UTF-8 bytes (config only lets base64 through). Raises ValueError (never quoting it)."""
    key = decode_base64_secret(secret)
    if key is None:
        if secret.startswith(SECRET_PREFIX):
            raise ValueError("webhook secret after 'whsec_' is not valid base64")
        key = secret.encode()
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`, the webhook-signature value."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def render_webhook(alert: Alert, timestamp: int) -> bytes:
    """The JSON body: {"type": "newsalert.alert", "timestamp": ISO 8601 UTC, "data": Alert}."""
    when = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    envelope = {"type": EVENT_TYPE, "timestamp": when, "data": alert.model_dump(mode="json")}
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
        what = f"webhook destination {self.name!r}"
        # Each attempt gets a fresh timestamp (receivers reject stale ones) but the same id,
        # so a receiver can drop a repeat of an alert it already has.
        timestamp = int(self._clock())
        body = render_webhook(alert, timestamp)
        headers = {
            "content-type": "application/json",
            "webhook-id": alert.id,
            "webhook-timestamp": str(timestamp),
        }
        if self._secret is not None:
            headers["webhook-signature"] = sign(self._secret, alert.id, timestamp, body)
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


def _b64decode(text: str) -> bytes | None:
    # Unpadded base64 is common in copied secrets; pad before strict decoding.
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
