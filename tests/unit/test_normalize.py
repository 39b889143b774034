"""Tables for the text, link and date helpers that shape what users read."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.normalize import canonical_link, collapse_whitespace, html_to_text, to_utc, truncate


@pytest.mark.parametrize(
    ("link", "base", "expected"),
    [
        # scheme and host lowercased, fragment dropped, tracking removed, order of the rest kept
        (
            "HTTPS://News.Example.COM/a/B?utm_source=rss&id=3&fbclid=x&page=2#comments",
            "",
            "https://news.example.com/a/B?id=3&page=2",
        ),
        (
            "https://e.com/?b=2&UTM_Medium=x&a=1&gclid=z&c&mc_cid=1&mc_eid=2&igshid=3",
            "",
            "https://e.com/?b=2&a=1&c",
        ),
        (
            "https://e.com/p?ref_src=twsrc&cmpid=a&ocid=b&_hsenc=c&_hsmi=d&yclid=e&msclkid=f&spm=g",
            "",
            "https://e.com/p",
        ),
        ("https://e.com/p?utm_campaign", "", "https://e.com/p"),
        ("https://e.com/p?ref=home&utm_content=x", "", "https://e.com/p?ref=home"),
        # Google News wraps links in whitespace
        ("\n      https://news.google.com/rss/articles/CBMi?oc=5\n    ", "", None),
        # relative links resolve against the feed (or xml:base)
        ("/post/1", "https://blog.example/feed/", "https://blog.example/post/1"),
        ("post/1", "https://blog.example/feed/", "https://blog.example/feed/post/1"),
        ("//cdn.example/x", "https://blog.example/feed/", "https://cdn.example/x"),
        # default ports go, others stay; an empty path is "/"
        ("HTTP://example.com:80/x", "", "http://example.com/x"),
        ("https://example.com:443", "", "https://example.com/"),
        ("https://example.com:8443/x", "", "https://example.com:8443/x"),
        ("http://[::1]:8080/a", "", "http://[::1]:8080/a"),
        # not an http(s) article link
        ("", "https://blog.example/", ""),
        ("   ", "https://blog.example/", ""),
        ("javascript:alert(1)", "https://blog.example/", ""),
        ("mailto:desk@example.com", "", ""),
        ("ftp://example.com/file", "", ""),
        ("relative/only", "", ""),
        ("http://[::1/broken", "", ""),
        ("http://example.com:99999/", "", ""),
    ],
)
def test_canonical_link(link: str, base: str, expected: str | None) -> None:
    if expected is None:  # the whitespace case: same link, spaces gone
        expected = "https://news.google.com/rss/articles/CBMi?oc=5"
    assert canonical_link(link, base) == expected


def test_canonical_link_is_idempotent() -> None:
    once = canonical_link(" https://E.com/a?x=1&utm_source=y#f ", "")
    assert canonical_link(once) == once


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>Hello <b>world</b></p>", "Hello world"),
        ("<p>one</p><p>two</p>", "one two"),
        ("line1<br>line2<br/>line3", "line1 line2 line3"),
        ("<script>alert('x')</script>Safe <style>p {color: red}</style>text", "Safe text"),
        ("<SCRIPT type='text/javascript'>var a = '<p>';</SCRIPT>after", "after"),
        ("AT&amp;T &lt;3 caf&eacute; &#8217;quoted&#x2019;", "AT&T <3 café ’quoted’"),
        ("1 < 2 and 3 > 2", "1 < 2 and 3 > 2"),
        ("  lots \n\t of   space\xa0here ", "lots of space here"),
        ("<img src=x onerror=alert(1)>caption", "caption"),
        ("a\x00b\x07c", "abc"),
        ("<h1>ETHNews</h1> headline", "ETHNews headline"),
        ("<!-- hidden --><p>shown</p>", "shown"),
        ("plain text", "plain text"),
        ("", ""),
    ],
)
def test_html_to_text(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


def test_html_to_text_stops_early_when_told_how_much_it_needs() -> None:
    markup = "<p>word</p>" * 200_000  # 2.2 MB of HTML
    started = time.perf_counter()
    text = html_to_text(markup, max_chars=4000)
    elapsed = time.perf_counter() - started
    assert len(text) >= 4000
    assert len(text) < 100_000
    assert elapsed < 1.0


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly ten", 11, "exactly ten"),
        ("alpha beta gamma", 12, "alpha beta…"),
        ("alpha beta gamma", 11, "alpha beta…"),
        ("abcdefghij", 5, "abcd…"),
        ("中文没有空格的句子很长", 6, "中文没有空…"),
    ],
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected


@given(st.text(), st.integers(min_value=2, max_value=200))
def test_truncate_never_exceeds_the_limit_and_keeps_a_prefix(text: str, limit: int) -> None:
    cut = truncate(text, limit)
    assert len(cut) <= limit
    if cut != text:
        assert cut.endswith("…")
        assert text.startswith(cut[:-1].rstrip())


def test_collapse_whitespace() -> None:
    assert collapse_whitespace(" a\r\n\tb\u2003 c ") == "a b c"


@pytest.mark.parametrize(
    ("parsed", "expected"),
    [
        (
            time.struct_time((2024, 1, 2, 3, 4, 5, 1, 2, 0)),
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        ),
        ((9999, 12, 31, 23, 59, 59, 4, 365, 0), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ((1970, 1, 1, 0, 0, 0, 3, 1, 0), datetime(1970, 1, 1, tzinfo=UTC)),
        ((2016, 12, 31, 23, 59, 60, 5, 366, 0), datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ((-1, 11, 30, 0, 0, 0, 0, 334, 0), None),  # feedparser's "0000-00-00"
        ((0, 1, 1, 0, 0, 0, 0, 1, 0), None),
        ((10000, 1, 1, 0, 0, 0, 0, 1, 0), None),
        ((2026, 2, 31, 10, 0, 0, 0, 1, 0), None),
        ((2026, 9, 15, 25, 61, 0, 0, 1, 0), None),
        ((10**30, 1, 1, 0, 0, 0, 0, 1, 0), None),
        ((2024,), None),
        (("a", "b", "c", "d", "e", "f"), None),
        (None, None),
    ],
)
def test_to_utc(parsed: tuple[int, ...] | None, expected: datetime | None) -> None:
    assert to_utc(parsed) == expected
