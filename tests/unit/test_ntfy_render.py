"""ntfy rendering: the JSON publish body, message within 4,096 bytes, priority and tags."""

from __future__ import annotations

import pytest

from consumers.destinations.ntfy import (
    render_ntfy,
    render_ntfy_digest,
    render_ntfy_health,
    split_topic_url,
)
from tests.support.alerts import HOSTILE_TITLE, make_alert, make_digest, make_health, many_alerts
from tests.support.service_receivers import ntfy_problem


def test_alert_payload() -> None:
    payload = render_ntfy(make_alert(), "news")
    assert payload == {
        "topic": "news",
        "title": "Beijing weighs yuan move",
        "message": "The PBoC & Chinese banks <quietly> adjust.",
        "tags": ["china", "pboc"],
        "priority": 3,
        "click": "https://example.com/yuan",
    }


def test_priority_watchlist_raises_priority() -> None:
    assert render_ntfy(make_alert(), "news", priority=True)["priority"] == 4


def test_hostile_title_is_one_line_and_bad_link_is_dropped() -> None:
    payload = render_ntfy(make_alert(HOSTILE_TITLE, link="file:///etc/passwd"), "news")
    assert "\n" not in payload["title"]
    assert payload["title"] == " ".join(HOSTILE_TITLE.split())
    assert "click" not in payload
    assert ntfy_problem(payload, "news") is None


def test_message_is_cut_to_4096_bytes_without_splitting_a_character() -> None:
    payload = render_ntfy(make_alert(summary="中" * 3000), "news")
    assert len(payload["message"].encode()) <= 4096
    assert payload["message"].endswith("中…")
    assert ntfy_problem(payload, "news") is None


@pytest.mark.parametrize(
    ("url", "root", "topic"),
    [
        ("https://ntfy.sh/mytopic", "https://ntfy.sh/", "mytopic"),
        ("https://push.example.org/ntfy/alerts/", "https://push.example.org/ntfy/", "alerts"),
    ],
)
def test_topic_url_splits_into_root_and_topic(url: str, root: str, topic: str) -> None:
    assert split_topic_url(url) == (root, topic)


def test_digest_fits_and_counts_the_rest() -> None:
    payload = render_ntfy_digest(make_digest(many_alerts(200)), "news")
    assert ntfy_problem(payload, "news") is None
    lines = payload["message"].split("\n")
    shown = sum(line.startswith("• ") for line in lines)
    assert lines[-1] == f"+{200 - shown} more"
    assert payload["title"] == "Digest: 200 stories, 2024-05-01 12:00–13:00 UTC"
    assert "• Story number 0 about the yuan — reuters, ap, afp" in lines
    assert payload["tags"] == ["ico", "china"]


def test_feed_health_failing_is_high_priority() -> None:
    payload = render_ntfy_health(make_health("failing"), "news")
    assert payload["priority"] == 4
    assert payload["title"] == "Feed health: wire failing"
    assert render_ntfy_health(make_health("recovered"), "news")["priority"] == 3
    assert ntfy_problem(payload, "news") is None
