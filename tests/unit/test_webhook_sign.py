"""Standard Webhooks signing, checked against the independent `standardwebhooks` package."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from consumers.destinations.webhook import classify_webhook_response, render_webhook
from consumers.errors import DeliveryError
from service.models import Alert, Article, FeedRef, WatchlistMatch
from service.signing import decode_secret, sign

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def make_alert() -> Alert:
    article = Article(
        id="article-1",
        feed=FeedRef(name="coindesk", url="https://example.com/feed"),
        title="ICO market cools — “token sales” fall",
        summary="Fewer ICOs & token sales in Beijing.",
        link="https://example.com/ico",
        published=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        fetched_at=datetime(2024, 5, 1, 12, 31, tzinfo=UTC),
    )
    return Alert(
        id="alert-7f3a",
        destination="audit",
        article=article,
        matches=[WatchlistMatch(watchlist="ico", terms=["ICO"])],
        created_at=datetime(2024, 5, 1, 12, 32, tzinfo=UTC),
    )


def headers(msg_id: str, timestamp: int, signature: str) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def test_matches_the_specifications_published_example() -> None:
    # The test vector published with the Standard Webhooks specification.
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_rendered_alert_verifies_with_standardwebhooks() -> None:
    now = int(time.time())
    alert = make_alert()
    body = render_webhook(alert, now)

    payload = Webhook(SECRET).verify(
        body, headers(alert.id, now, sign(SECRET, alert.id, now, body))
    )

    assert payload["type"] == "newsalert.alert"
    assert Alert.model_validate(payload["data"]) == alert


@pytest.mark.parametrize(
    "tamper",
    [
        lambda i, t, b: (i + "x", t, b),
        lambda i, t, b: (i, t + 1, b),
        lambda i, t, b: (i, t, b.replace(b"ICO", b"IPO")),
    ],
    ids=["other id", "other timestamp", "other body"],
)
def test_any_change_breaks_the_signature(tamper: object) -> None:
    now = int(time.time())
    alert = make_alert()
    body = render_webhook(alert, now)
    signature = sign(SECRET, alert.id, now, body)
    msg_id, timestamp, sent = tamper(alert.id, now, body)  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(sent, headers(msg_id, timestamp, signature))


def test_secret_without_prefix_signs_the_same() -> None:
    bare = SECRET.removeprefix("whsec_")
    assert sign(bare, "id", 1, b"{}") == sign(SECRET, "id", 1, b"{}")
    assert sign(bare.rstrip("="), "id", 1, b"{}") == sign(SECRET, "id", 1, b"{}")


def test_raw_secret_that_is_not_base64_is_used_as_bytes() -> None:
    raw = "not base64! just a shared secret"
    now = int(time.time())
    signature = sign(raw, "id-1", now, b'{"a":1}')
    assert Webhook(raw.encode()).verify(b'{"a":1}', headers("id-1", now, signature)) == {"a": 1}


@pytest.mark.parametrize("bad", ["whsec_***not-base64***", "whsec_", ""])
def test_unusable_secrets_are_refused_without_quoting_them(bad: str) -> None:
    with pytest.raises(ValueError) as caught:
        decode_secret(bad)
    if bad.removeprefix("whsec_"):
        assert bad not in str(caught.value)


def test_envelope_timestamp_is_iso8601_utc_of_the_signed_timestamp() -> None:
    body = json.loads(render_webhook(make_alert(), 1714566600))
    assert body["timestamp"] == "2024-05-01T12:30:00Z"
    assert list(body) == ["type", "timestamp", "data"]


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_success(status: int) -> None:
    classify_webhook_response(status, "", None)


@pytest.mark.parametrize(
    ("status", "retry_after", "retriable", "expected_wait"),
    [
        (408, None, True, None),
        (429, "5", True, 5.0),
        (429, None, True, None),
        (500, "9", True, None),  # Retry-After is read on 429 and 503 only
        (502, None, True, None),
        (503, "7", True, 7.0),
        (400, None, False, None),
        (401, None, False, None),
        (404, None, False, None),
        (410, None, False, None),
        (422, None, False, None),
        (301, None, False, None),
    ],
)
def test_failures_are_classified(
    status: int, retry_after: str | None, retriable: bool, expected_wait: float | None
) -> None:
    with pytest.raises(DeliveryError) as caught:
        classify_webhook_response(status, "", retry_after)
    assert caught.value.retriable is retriable
    assert caught.value.retry_after == expected_wait
