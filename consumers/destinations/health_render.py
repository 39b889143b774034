"""Feed health alerts rendered for each destination type. Pure: a `FeedHealthAlert` in, a payload out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from consumers.destinations.console import _clean
from consumers.destinations.slack import SECTION_MAX, _escape_truncated
from service.models import FeedHealthAlert


def describe(alert: FeedHealthAlert) -> str:
    """One plain sentence: what happened to which feed(s), and what happens next."""
    what = alert.type.rsplit(".", 1)[1]
    if alert.feed is None:
        names = ", ".join(alert.feeds[:20]) + (" …" if len(alert.feeds) > 20 else "")
        if what == "failing":
            text = f"{len(alert.feeds)} feeds are failing at once ({names})"
            if alert.error:
                text += f"; for example: {alert.error}"
            return text + ". Likely our network or DNS rather than the feeds."
        tail = f"; still failing: {names}" if alert.feeds else ""
        return f"Most feeds are back after {_duration(alert.downtime_s)}{tail}."
    if what == "failing":
        status = f" (HTTP {alert.http_status})" if alert.http_status else ""
        retry = f"; next retry {_at(alert.next_retry_at)}" if alert.next_retry_at else ""
        return f"Feed {alert.feed} is failing{status}: {alert.error or 'unknown error'}{retry}."
    if what == "recovered":
        return f"Feed {alert.feed} has recovered after {_duration(alert.downtime_s)} down."
    return f"Feed {alert.feed} is stale: no new item since {_at(alert.since)}."


def render_slack_health(alert: FeedHealthAlert) -> dict[str, Any]:
    text = _escape_truncated(describe(alert), SECTION_MAX)
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def render_webhook_health(alert: FeedHealthAlert, timestamp: int) -> bytes:
    """{"type": "newsalert.feed.failing" | ".recovered" | ".stale", "timestamp", "data": {...}}."""
    when = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = alert.model_dump(mode="json", exclude={"type", "version", "id"})
    envelope = {"type": alert.type, "timestamp": when, "data": data}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def format_console_health(alert: FeedHealthAlert) -> str:
    return f"{_at(alert.at)} [feed health] {_clean(describe(alert))}"


def _at(moment: datetime | None) -> str:
    return "?" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "an unknown time"
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{round(seconds)}s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes / 60:.1f} h"
