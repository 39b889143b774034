"""Teams rendering: one Adaptive Card message, plain text runs, within Teams' 28 KB."""

from __future__ import annotations

import json
from typing import Any

from consumers.destinations.teams import (
    MAX_PAYLOAD_BYTES,
    render_teams,
    render_teams_digest,
    render_teams_health,
)
from tests.support.alerts import HOSTILE_TITLE, make_alert, make_digest, make_health, many_alerts
from tests.support.service_receivers import teams_problem


def _card(payload: dict[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = payload["attachments"][0]["content"]
    return card


def _texts(payload: dict[str, Any]) -> list[str]:
    return [run["text"] for block in _card(payload)["body"] for run in block["inlines"]]


def _size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode())


def test_alert_card_has_title_summary_feed_watchlists_and_link() -> None:
    payload = render_teams(make_alert())
    assert teams_problem(payload) is None
    assert payload["type"] == "message"
    card = _card(payload)
    assert card["version"] == "1.4"
    title = card["body"][0]["inlines"][0]
    assert title == {
        "type": "TextRun",
        "text": "Beijing weighs yuan move",
        "weight": "Bolder",
        "size": "Medium",
    }
    assert _texts(payload)[1] == "The PBoC & Chinese banks <quietly> adjust."
    assert "Feed: reuters · Watchlists: china (CHINA); pboc (PBOC)" in _texts(payload)
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Read more", "url": "https://example.com/yuan"}
    ]


def test_hostile_title_stays_plain_text_on_one_line() -> None:
    payload = render_teams(make_alert(HOSTILE_TITLE, link="javascript:alert(1)"))
    assert teams_problem(payload) is None
    assert _texts(payload)[0] == " ".join(HOSTILE_TITLE.split())
    assert all(b["type"] == "RichTextBlock" for b in _card(payload)["body"])  # no markdown
    assert "actions" not in _card(payload)


def test_huge_summary_is_cut_to_fit_teams_size_limit() -> None:
    # Control characters grow six-fold in JSON; quotes two-fold.
    payload = render_teams(make_alert(summary='"\x01' * 20000))
    assert _size(payload) <= MAX_PAYLOAD_BYTES
    assert _texts(payload)[1].endswith("…")
    assert teams_problem(payload) is None


def test_digest_lists_stories_once_and_counts_the_rest() -> None:
    alerts = many_alerts(300, "A long headline about the yuan and the PBoC, number {i} " * 3)
    payload = render_teams_digest(make_digest([*alerts, alerts[0]]))
    assert teams_problem(payload) is None
    assert _size(payload) <= MAX_PAYLOAD_BYTES
    texts = _texts(payload)
    assert texts[0] == "Digest: 300 stories, 2024-05-01 12:00–13:00 UTC"
    shown = texts.count("• ")
    assert 0 < shown < 300
    assert texts[-1] == f"+{300 - shown} more"
    assert " — reuters, ap, afp" in texts
    runs = [r for b in _card(payload)["body"] for r in b["inlines"] if "selectAction" in r]
    assert runs[0]["selectAction"] == {"type": "Action.OpenUrl", "url": "https://example.com/s/0"}


def test_small_digest_has_no_more_line() -> None:
    payload = render_teams_digest(make_digest(many_alerts(2)))
    assert not any(t.startswith("+") for t in _texts(payload))
    assert "china (1)" in _texts(payload) and "ico (1)" in _texts(payload)


def test_feed_health_card() -> None:
    payload = render_teams_health(make_health("recovered"))
    assert teams_problem(payload) is None
    assert _texts(payload) == ["Feed health", "Feed wire has recovered after 10 min down."]


def test_absurd_link_is_left_out_so_the_card_still_fits() -> None:
    payload = render_teams(make_alert(link="https://example.com/" + "a" * 40000))
    assert _size(payload) <= MAX_PAYLOAD_BYTES
    assert "actions" not in _card(payload)
    assert teams_problem(payload) is None
