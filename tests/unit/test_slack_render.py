"""Slack rendering and response classification: what lands in the channel, and what retries."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.destinations.slack import classify_slack_response, render_slack
from consumers.errors import DeliveryError
from service.models import Alert, Article, FeedRef, WatchlistMatch

PUBLISHED = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def make_alert(
    *,
    title: str = "PBoC cuts rates",
    summary: str = "The People's Bank of China lowered its key rate.",
    link: str = "https://example.com/story?id=1",
    published: datetime | None = PUBLISHED,
    feed: str = "coindesk",
    matches: list[WatchlistMatch] | None = None,
) -> Alert:
    article = Article(
        id="a1",
        feed=FeedRef(name=feed, url="https://example.com/feed"),
        title=title,
        summary=summary,
        link=link,
        published=published,
        fetched_at=datetime(2024, 5, 1, 12, 31, tzinfo=UTC),
    )
    return Alert(
        id="alert-1",
        destination="markets",
        article=article,
        matches=matches
        if matches is not None
        else [WatchlistMatch(watchlist="china", terms=["PBoC", "China"])],
        created_at=datetime(2024, 5, 1, 12, 32, tzinfo=UTC),
    )


def blocks_of(payload: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in payload["blocks"] if b["type"] == kind]


def mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    texts = [payload["text"]]
    for block in payload["blocks"]:
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        if block["type"] == "context":
            texts.extend(e["text"] for e in block["elements"])
    return texts


# Slack constructs the renderer itself emits; anything else with < > & must be escaped.
OWN_CONSTRUCTS = re.compile(r"<https?://[^|<>\s]+\|Read more>|<!date\^\d+\^[^|<>]+\|[^<>]+>")


def assert_fully_escaped(text: str) -> None:
    rest = OWN_CONSTRUCTS.sub("", text)
    assert "<" not in rest and ">" not in rest, text
    assert re.sub(r"&(amp|lt|gt);", "", rest).count("&") == 0, text


def test_message_has_header_summary_link_and_context() -> None:
    payload = render_slack(make_alert())

    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "context"]
    [header] = blocks_of(payload, "header")
    assert header["text"] == {"type": "plain_text", "text": "PBoC cuts rates", "emoji": True}
    [section] = blocks_of(payload, "section")
    assert section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"] == (
        "The People's Bank of China lowered its key rate.\n"
        "<https://example.com/story?id=1|Read more>"
    )
    context = " | ".join(e["text"] for e in blocks_of(payload, "context")[0]["elements"])
    assert "coindesk" in context
    assert "china: PBoC, China" in context
    assert f"<!date^{int(PUBLISHED.timestamp())}^" in context
    assert "2024-05-01 12:30 UTC" in context
    assert payload["text"] == "PBoC cuts rates — https://example.com/story?id=1"


def test_every_matched_watchlist_is_listed() -> None:
    alert = make_alert(
        matches=[
            WatchlistMatch(watchlist="china", terms=["Beijing"]),
            WatchlistMatch(watchlist="fed-cuts", terms=["fed", "cut*"]),
        ]
    )
    context = " ".join(e["text"] for e in blocks_of(render_slack(alert), "context")[0]["elements"])
    assert "china: Beijing" in context
    assert "fed-cuts: fed, cut*" in context


def test_control_characters_are_escaped_in_mrkdwn_and_text() -> None:
    alert = make_alert(
        title="AT&T <b>buys</b> <!channel>",
        summary="Ping <!here> & <@U123> > everyone",
        matches=[WatchlistMatch(watchlist="a&b", terms=["<x>"])],
    )
    payload = render_slack(alert)

    section = blocks_of(payload, "section")[0]["text"]["text"]
    assert section.startswith("Ping &lt;!here&gt; &amp; &lt;@U123&gt; &gt; everyone\n")
    assert payload["text"].startswith("AT&amp;T &lt;b&gt;buys&lt;/b&gt; &lt;!channel&gt; — ")
    context = blocks_of(payload, "context")[0]["elements"]
    assert any(e["text"] == "a&amp;b: &lt;x&gt;" for e in context)
    for text in mrkdwn_texts(payload):
        assert_fully_escaped(text)


def test_plain_text_header_is_not_entity_escaped() -> None:
    # plain_text is shown as sent; escaping it would show "&amp;" to readers.
    header = blocks_of(render_slack(make_alert(title="S&P <500> rallies")), "header")[0]
    assert header["text"]["text"] == "S&P <500> rallies"


def test_long_title_is_cut_to_150_characters_with_ellipsis() -> None:
    title = "Fed " + "x" * 400
    payload = render_slack(make_alert(title=title))
    header = blocks_of(payload, "header")[0]["text"]["text"]
    assert len(header) == 150
    assert header.endswith("…")
    assert header[:-1] == title[:149]


def test_whitespace_in_titles_is_collapsed_and_empty_titles_are_named() -> None:
    assert (
        blocks_of(render_slack(make_alert(title="  A\n\tB  ")), "header")[0]["text"]["text"]
        == "A B"
    )
    assert blocks_of(render_slack(make_alert(title=" \n ")), "header")[0]["text"]["text"] == (
        "(untitled)"
    )


def test_long_summary_keeps_the_link_and_stays_within_3000() -> None:
    payload = render_slack(make_alert(summary="word " * 2000))
    section = blocks_of(payload, "section")[0]["text"]["text"]
    assert len(section) <= 3000
    assert section.endswith("…\n<https://example.com/story?id=1|Read more>")


def test_truncation_never_cuts_an_entity_in_half() -> None:
    for pad in range(6):
        payload = render_slack(make_alert(summary="x" * pad + "&" * 3000))
        section = blocks_of(payload, "section")[0]["text"]["text"]
        assert len(section) <= 3000
        assert_fully_escaped(section)


def test_link_characters_that_would_break_slack_syntax_are_encoded() -> None:
    payload = render_slack(make_alert(link="https://example.com/a|b>c?x=1&y=2 z"))
    section = blocks_of(payload, "section")[0]["text"]["text"]
    assert "<https://example.com/a%7Cb%3Ec?x=1&amp;y=2%20z|Read more>" in section
    assert_fully_escaped(section)


@pytest.mark.parametrize("link", ["javascript:alert(1)", "", "not a url", "ftp://example.com/x"])
def test_non_http_links_are_left_out(link: str) -> None:
    payload = render_slack(make_alert(link=link))
    assert "Read more" not in blocks_of(payload, "section")[0]["text"]["text"]
    assert payload["text"] == "PBoC cuts rates"


def test_no_summary_and_no_link_leaves_out_the_section() -> None:
    payload = render_slack(make_alert(summary="", link=""))
    assert [b["type"] for b in payload["blocks"]] == ["header", "context"]


def test_unknown_publication_time_shows_when_it_was_seen() -> None:
    context = blocks_of(render_slack(make_alert(published=None)), "context")[0]["elements"]
    assert any(e["text"].startswith("seen <!date^") for e in context)
    assert not any("published" in e["text"] for e in context)


@given(
    title=st.text(max_size=400),
    summary=st.text(max_size=5000),
    feed=st.text(min_size=1, max_size=50),
    terms=st.lists(st.text(min_size=1, max_size=20), max_size=5),
)
def test_any_text_stays_within_slack_limits_and_escaped(
    title: str, summary: str, feed: str, terms: list[str]
) -> None:
    alert = make_alert(
        title=title,
        summary=summary,
        feed=feed,
        matches=[WatchlistMatch(watchlist="w", terms=terms)],
    )
    payload = render_slack(alert)

    assert len(payload["blocks"]) <= 50
    header = blocks_of(payload, "header")[0]["text"]["text"]
    assert 1 <= len(header) <= 150
    for section in blocks_of(payload, "section"):
        assert 1 <= len(section["text"]["text"]) <= 3000
    for element in blocks_of(payload, "context")[0]["elements"]:
        assert 1 <= len(element["text"]) <= 3000
    assert 1 <= len(payload["text"]) <= 40000
    for text in mrkdwn_texts(payload):
        assert_fully_escaped(text)


# --- responses --------------------------------------------------------------------------


def test_200_ok_is_success() -> None:
    classify_slack_response(200, "ok", None)


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "retriable", "expected_wait"),
    [
        (429, "rate_limited", "30", True, 30.0),
        (429, "", None, True, None),
        (429, "", "soon", True, None),
        (500, "rollup_error", None, True, None),
        (502, "<html><body>Bad gateway</body></html>", None, True, None),
        (503, "", "12", True, 12.0),
        (408, "", None, True, None),
        (410, "channel_is_archived", None, False, None),
        (404, "channel_not_found", None, False, None),
        (403, "action_prohibited", None, False, None),
        (400, "invalid_blocks", None, False, None),
        (400, "invalid_payload", None, False, None),
        (500, "invalid_token", None, False, None),
        (400, "no_text", None, False, None),
        (200, "<html>captive portal</html>", None, False, None),
        (302, "", None, False, None),
    ],
)
def test_failures_are_classified(
    status: int, body: str, retry_after: str | None, retriable: bool, expected_wait: float | None
) -> None:
    with pytest.raises(DeliveryError) as caught:
        classify_slack_response(status, body, retry_after)
    assert caught.value.retriable is retriable
    assert caught.value.retry_after == expected_wait
    assert str(status) in str(caught.value)


def test_error_message_names_slacks_code_but_not_an_html_page() -> None:
    with pytest.raises(DeliveryError) as archived:
        classify_slack_response(410, "channel_is_archived", None)
    assert "channel_is_archived" in str(archived.value)

    with pytest.raises(DeliveryError) as html:
        classify_slack_response(500, "<html><title>oops</title></html>", None)
    assert "<" not in str(html.value) and "oops" not in str(html.value)
