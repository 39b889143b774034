"""Telegram rendering: HTML the Bot API parses, within 4,096 characters, hostile text escaped."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.destinations.telegram import (
    render_telegram,
    render_telegram_digest,
    render_telegram_health,
    units,
)
from tests.support.alerts import HOSTILE_TITLE, make_alert, make_digest, make_health, many_alerts
from tests.support.service_receivers import telegram_problem, telegram_visible_text


def test_alert_is_bold_title_summary_and_link() -> None:
    payload = render_telegram(make_alert(), 4242)
    assert payload["parse_mode"] == "HTML"
    assert payload["chat_id"] == 4242
    assert payload["text"].startswith("<b>Beijing weighs yuan move</b>\n")
    assert "The PBoC &amp; Chinese banks &lt;quietly&gt; adjust." in payload["text"]
    assert '<a href="https://example.com/yuan">Read more</a>' in payload["text"]
    assert payload["link_preview_options"] == {"is_disabled": True}
    assert telegram_problem(payload, 4242) is None


def test_hostile_title_is_shown_as_typed() -> None:
    payload = render_telegram(make_alert(HOSTILE_TITLE, link='https://x.example/"><b>'), 1)
    assert telegram_problem(payload, 1) is None
    visible = telegram_visible_text(payload["text"])
    assert " ".join(HOSTILE_TITLE.split()) in visible  # newlines folded, nothing swallowed
    assert "<b>Beijing</b>" not in payload["text"]
    assert 'href="https://x.example/&quot;&gt;&lt;b&gt;"' in payload["text"]


def test_javascript_link_is_left_out() -> None:
    payload = render_telegram(make_alert(link="javascript:alert(1)"), 1)
    assert "href" not in payload["text"]


def test_long_summary_full_of_entities_is_cut_within_the_limit() -> None:
    payload = render_telegram(make_alert(summary="<&>" * 5000), 1)
    assert units(payload["text"]) <= 4096
    assert telegram_problem(payload, 1) is None
    assert payload["text"].count("…") == 1
    assert "Read more" in payload["text"]  # the link survives the cut


def test_emoji_count_double_in_telegram_length() -> None:
    payload = render_telegram(make_alert(summary="🚀" * 4000), 1)
    assert units(payload["text"]) <= 4096
    assert telegram_problem(payload, 1) is None


def test_worst_case_title_feed_and_link_still_fit() -> None:
    alert = make_alert(
        '"&' * 2000,
        summary="<" * 5000,
        feed="&" * 2000,
        link="https://example.com/?" + "a=1&" * 80,
        watchlists=tuple(f"w{i}&" for i in range(50)),
    )
    payload = render_telegram(alert, 1)
    assert units(payload["text"]) <= 4096
    assert telegram_problem(payload, 1) is None
    assert "Read more" in payload["text"]
    assert "&lt;" in payload["text"]  # the summary still has room


@settings(max_examples=60, deadline=None)
@given(
    title=st.text(max_size=400),
    summary=st.text(max_size=6000),
    path=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), max_size=1200),
)
def test_any_text_renders_to_a_message_telegram_accepts(
    title: str, summary: str, path: str
) -> None:
    payload = render_telegram(make_alert(title, summary=summary, link="https://x.org/" + path), 1)
    assert telegram_problem(payload, 1) is None


def test_digest_lists_each_story_once_with_its_sources() -> None:
    alerts = many_alerts(3)
    payload = render_telegram_digest(make_digest([*alerts, alerts[0]]), 1)
    text = payload["text"]
    assert text.startswith("<b>Digest: 3 stories, 2024-05-01 12:00–13:00 UTC</b>")
    assert text.count("Story number 0 about the yuan") == 1
    assert "— reuters, ap, afp" in text
    assert '<a href="https://example.com/s/1">' in text
    assert telegram_problem(payload, 1) is None


def test_big_digest_stays_within_the_limit_and_counts_the_rest() -> None:
    payload = render_telegram_digest(make_digest(many_alerts(400, HOSTILE_TITLE + " {i}")), 1)
    assert telegram_problem(payload, 1) is None
    last = payload["text"].rsplit("\n", 1)[1]
    shown = payload["text"].count("• ")
    assert last == f"+{400 - shown} more"


def test_feed_health_is_a_sentence() -> None:
    payload = render_telegram_health(make_health("failing"), 1)
    assert telegram_problem(payload, 1) is None
    assert "Feed wire is failing (HTTP 503): connection refused." in payload["text"]
