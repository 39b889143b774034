"""Feed health alerts as Slack text, webhook body and console line."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from consumers.destinations.health_render import (
    format_console_health,
    render_slack_health,
    render_webhook_health,
)
from service.models import FeedHealthAlert

AT = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def test_failing_feed_names_error_status_and_retry() -> None:
    alert = FeedHealthAlert(
        id="x",
        type="newsalert.feed.failing",
        feed="wire",
        at=AT,
        error="wire answered 503 Service Unavailable <b>",
        http_status=503,
        next_retry_at=AT.replace(minute=5),
    )
    text = render_slack_health(alert)["text"]
    assert text == (
        "Feed wire is failing (HTTP 503): wire answered 503 Service Unavailable &lt;b&gt;; "
        "next retry 2026-06-01 08:05 UTC."
    )
    body = json.loads(render_webhook_health(alert, 1780300800))
    assert body["type"] == "newsalert.feed.failing"
    assert body["data"]["http_status"] == 503 and body["data"]["feed"] == "wire"
    assert format_console_health(alert).startswith("2026-06-01 08:00 UTC [feed health] Feed wire")


def test_storm_and_recovery() -> None:
    many = FeedHealthAlert(
        id="y", type="newsalert.feed.failing", feed=None, feeds=["a", "b", "c"], at=AT, error="DNS"
    )
    assert "3 feeds are failing at once (a, b, c)" in render_slack_health(many)["text"]
    back = FeedHealthAlert(id="z", type="newsalert.feed.recovered", feed="a", at=AT, downtime_s=600)
    assert render_slack_health(back)["text"] == "Feed a has recovered after 10 min down."
