"""The email renderer, pure: headers that cannot be split, escaped HTML, stable Message-IDs."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import cast

import pytest

from consumers.destinations.email_render import (
    DIGEST_MAX,
    SUBJECT_MAX,
    Envelope,
    message_id,
    render_email,
    render_email_digest,
)
from service.models import Alert, Article, Digest, DigestWindow, FeedRef, StoryRef, WatchlistMatch

ENVELOPE = Envelope("alerts@news.example", ("a@example.org", "b@example.org"))


def alert(title: str = "Fed signals cut", **article: object) -> Alert:
    fields: dict[str, object] = {
        "id": "art-1",
        "feed": FeedRef(name="wire", url="https://example.com/feed"),
        "title": title,
        "summary": "Rates & <markets>.",
        "link": "https://example.com/fed",
        "published": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "fetched_at": datetime(2024, 5, 1, 12, 1, tzinfo=UTC),
    }
    fields.update(article)
    return Alert(
        id="alert-1",
        destination="mail",
        article=Article.model_validate(fields),
        matches=[WatchlistMatch(watchlist="fed", terms=["fed", "cut"])],
        created_at=datetime(2024, 5, 1, 12, 2, tzinfo=UTC),
    )


def reparsed(msg: EmailMessage) -> EmailMessage:
    """What a receiver parses out of the bytes we would send."""
    return cast(EmailMessage, message_from_bytes(msg.as_bytes(), policy=policy.default))


def parts(msg: EmailMessage) -> tuple[str, str]:
    text, page = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and page is not None
    return text.get_content().replace("\r\n", "\n"), page.get_content().replace("\r\n", "\n")


@pytest.mark.parametrize(
    ("key", "sender", "expected"),
    [
        ("alert-0001", "a@news.example", "<alert-0001@news.example>"),
        ("3f2a9c", "bot@Mail.Example.ORG", "<3f2a9c@Mail.Example.ORG>"),
        ("x>\r\nBcc: e@vil <y", "a@news.example", "<x-Bcc-e-vil-y@news.example>"),
        ("", "a@news.example", "<newsalert@news.example>"),
        ("id", "a@exa mple.org>\r\nX: y", "<id@example.orgXy>"),
        ("id", "no-domain@", "<id@newsalert>"),
    ],
)
def test_message_id_is_derived_and_sanitized(key: str, sender: str, expected: str) -> None:
    assert message_id(key, sender) == expected


@pytest.mark.parametrize(
    ("title", "subject"),
    [
        ("Plain title", "[fed] Plain title"),
        ("Split\r\nBcc: x@y", "[fed] Split Bcc: x@y"),
        ("Tab\there\x1b[31m red", "[fed] Tab here [31m red"),
        ("中国 cuts rates", "[fed] 中国 cuts rates"),
        ("", "[fed] (untitled)"),
    ],
)
def test_subject_is_one_line_and_round_trips(title: str, subject: str) -> None:
    got = reparsed(render_email(alert(title), ENVELOPE))
    assert got["Subject"] == subject
    assert got["Bcc"] is None
    assert got["To"] == "a@example.org, b@example.org"


def test_a_long_title_is_cut_in_the_subject() -> None:
    got = reparsed(render_email(alert("word " * 200), ENVELOPE))
    assert len(got["Subject"]) == SUBJECT_MAX
    assert got["Subject"].endswith("…")


def test_html_is_escaped_and_only_web_links_are_anchors() -> None:
    hostile = alert("<script>alert(1)</script>", link="javascript:alert(1)")
    plain, page = parts(reparsed(render_email(hostile, ENVELOPE)))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page and "javascript:" not in page + plain
    assert "Rates &amp; &lt;markets&gt;." in page
    assert "Rates & <markets>." in plain


def test_a_link_with_quotes_cannot_leave_its_attribute() -> None:
    _, page = parts(reparsed(render_email(alert(link='https://e.com/"onmouseover="x'), ENVELOPE)))
    assert 'href="https://e.com/&quot;onmouseover=&quot;x"' in page


def test_summary_keeps_its_lines() -> None:
    plain, page = parts(
        reparsed(render_email(alert(summary="One.\n\n\nTwo.\x07\nThree"), ENVELOPE))
    )
    assert "One.\n\nTwo.\nThree" in plain
    assert "One.<br>\n<br>\nTwo.<br>\nThree" in page


def test_story_sources_are_named() -> None:
    grouped = alert().model_copy(update={"story": StoryRef(id="s", sources=["wire", "ap"])})
    plain, _ = parts(reparsed(render_email(grouped, ENVELOPE)))
    assert "Reported by: wire, ap" in plain


def test_a_big_digest_says_how_many_more() -> None:
    alerts = [
        alert(f"Story {i}", id=f"art-{i}").model_copy(update={"id": f"alert-{i}"})
        for i in range(DIGEST_MAX + 7)
    ]
    window = DigestWindow(
        start=datetime(2024, 5, 1, 12, 0, tzinfo=UTC), end=datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
    )
    msg = reparsed(
        render_email_digest(
            Digest(id="d", destination="mail", window=window, alerts=alerts), ENVELOPE
        )
    )
    plain, page = parts(msg)
    assert (
        msg["Subject"] == f"Digest: {DIGEST_MAX + 7} stories, 2024-05-01 12:00–2024-05-02 12:00 UTC"
    )
    assert plain.count("- Story ") == DIGEST_MAX
    assert "+7 more" in plain and "+7 more" in page
