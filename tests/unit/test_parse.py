"""parse_feed on hand-written RSS and Atom: what a user sees, and what an attacker cannot do."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.errors import ParseError
from service.models import FeedRef, article_id
from service.parse import ParsedFeed, parse_feed, sanitize

FEED = FeedRef(name="wire", url="https://news.example.com/feeds/main.xml")
FETCHED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def parse(
    body: bytes | str, *, content_type: str | None = None, max_items: int = 1000
) -> ParsedFeed:
    data = body.encode() if isinstance(body, str) else body
    return parse_feed(
        data, feed=FEED, fetched_at=FETCHED, content_type=content_type, max_items=max_items
    )


def rss(items: str, *, prolog: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return (
        f"{prolog}\n"
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">'
        f"<channel><title>Wire &amp; Co</title><link>https://news.example.com/</link>{items}"
        "</channel></rss>"
    )


RSS_ITEMS = """
<item>
  <title><![CDATA[<h1>China cuts rates</h1>]]></title>
  <link>
     https://News.Example.com/markets/china-cuts?utm_source=rss&amp;id=7&amp;fbclid=abc#top
  </link>
  <guid isPermaLink="false">wire-0001</guid>
  <description>&lt;p&gt;The &lt;b&gt;PBoC&lt;/b&gt; cut by 25&amp;nbsp;bp.&lt;/p&gt;</description>
  <pubDate>Sat, 01 Mar 2026 09:30:00 +0100</pubDate>
</item>
<item>
  <title>Fed holds</title>
  <link>/us/fed-holds</link>
  <description>No guid here.</description>
  <dc:date>2026-02-28T20:00:00Z</dc:date>
</item>
<item>
  <description><![CDATA[<script>alert(1)</script>An item without a title or link.]]></description>
</item>
"""


def test_rss_items_become_articles_in_document_order() -> None:
    parsed = parse(rss(RSS_ITEMS))
    assert parsed.title == "Wire & Co"
    first, second, third = parsed.articles

    assert first.title == "China cuts rates"
    assert first.link == "https://news.example.com/markets/china-cuts?id=7"
    assert first.summary == "The PBoC cut by 25 bp."  # &nbsp; is a space like any other
    assert first.published == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    assert first.id == article_id("wire", "wire-0001")
    assert first.feed == FEED
    assert first.fetched_at == FETCHED

    assert second.link == "https://news.example.com/us/fed-holds"
    assert second.id == article_id("wire", "https://news.example.com/us/fed-holds")
    assert second.published == datetime(2026, 2, 28, 20, 0, tzinfo=UTC)

    assert third.summary == "An item without a title or link."
    assert third.title == "An item without a title or link."
    assert third.link == ""
    assert third.published is None


def test_ids_are_stable_across_polls_and_distinct_per_feed() -> None:
    again = parse(rss(RSS_ITEMS))
    other = parse_feed(
        rss(RSS_ITEMS).encode(), feed=FeedRef(name="other", url=FEED.url), fetched_at=FETCHED
    )
    first = parse(rss(RSS_ITEMS))
    assert [a.id for a in again.articles] == [a.id for a in first.articles]
    assert len({a.id for a in first.articles}) == 3
    assert not {a.id for a in first.articles} & {a.id for a in other.articles}


def test_an_item_repeated_in_the_feed_is_reported_once() -> None:
    item = "<item><title>Same</title><guid>g-1</guid></item>"
    parsed = parse(rss(item + "<item><title>Other</title><guid>g-2</guid></item>" + item))
    assert [a.title for a in parsed.articles] == ["Same", "Other"]


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.org/">
  <title type="html">Example &lt;i&gt;Blog&lt;/i&gt;</title>
  <id>urn:uuid:feed</id>
  <updated>2026-02-01T00:00:00Z</updated>
  <entry>
    <title type="html">Token sale &lt;em&gt;halted&lt;/em&gt;</title>
    <id>urn:uuid:entry-1</id>
    <link rel="alternate" href="posts/ico-halted.html?utm_medium=feed"/>
    <link rel="enclosure" href="https://cdn.example.org/audio.mp3"/>
    <updated>2026-02-01T10:00:00+02:00</updated>
    <content type="html">&lt;p&gt;The ICO was &lt;a href="/x"&gt;halted&lt;/a&gt;.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title type="text">Second</title>
    <id>urn:uuid:entry-2</id>
    <link href="https://blog.example.org/second"/>
    <published>2026-01-31T09:00:00Z</published>
    <updated>2026-02-01T09:00:00Z</updated>
    <summary>Short summary.</summary>
  </entry>
</feed>
"""


def test_atom_entries_become_articles() -> None:
    parsed = parse(ATOM)
    assert parsed.title == "Example Blog"
    first, second = parsed.articles
    assert first.title == "Token sale halted"
    assert first.link == "https://blog.example.org/posts/ico-halted.html"
    assert first.summary == "The ICO was halted."
    assert first.published == datetime(2026, 2, 1, 8, 0, tzinfo=UTC)  # updated, in UTC
    assert first.id == article_id("wire", "urn:uuid:entry-1")
    assert second.published == datetime(2026, 1, 31, 9, 0, tzinfo=UTC)  # published wins
    assert second.summary == "Short summary."


def test_a_feed_with_no_entries_is_an_empty_list_not_an_error() -> None:
    assert parse(rss("")).articles == []


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"", None, "empty"),
        (b"  \r\n\t ", None, "empty"),
        (
            b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
            b"<body><p>Checking your browser</p></body></html>",
            "text/html; charset=utf-8",
            "HTML page",
        ),
        (b"<html><body>Login</body></html>", None, "HTML page"),
        (b'{"items": []}', "application/json", "no elements"),
        (b"plain text, not markup", "text/plain", "no elements"),
        (b"<?xml version='1.0'?><catalog><book/></catalog>", None, "no <rss>"),
    ],
)
def test_what_is_not_a_feed_is_refused_with_one_clear_sentence(
    body: bytes, content_type: str | None, reason: str
) -> None:
    with pytest.raises(ParseError, match="not an RSS or Atom feed") as caught:
        parse(body, content_type=content_type)
    message = str(caught.value)
    assert reason in message
    assert "\n" not in message


def test_a_feed_served_as_text_html_still_parses() -> None:
    parsed = parse(rss(RSS_ITEMS), content_type="text/html")
    assert len(parsed.articles) == 3


def test_broken_xml_that_still_has_items_is_accepted() -> None:
    broken = rss("<item><title>Fed cut &amp rates</title><guid>x</guid></item><unclosed>")
    assert [a.title for a in parse(broken).articles] == ["Fed cut & rates"]


# --- hostile input ----------------------------------------------------------------------------


def test_quadratic_entity_blowup_is_not_expanded() -> None:
    value = "B" * 10_000
    refs = "&a;" * 10_000
    doc = rss(
        f"<item><title>q</title><guid>q</guid><description>{refs}</description></item>",
        prolog=f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "{value}">\n]>',
    )
    started = time.perf_counter()
    parsed = parse(doc)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    (article,) = parsed.articles
    assert "BBBBBBBBBB" not in article.summary
    assert len(article.summary) <= 4000


def test_billion_laughs_and_tricky_dtds_define_no_entity() -> None:
    levels = '<!ENTITY l0 "lol">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    tricky = (
        '<!ENTITY gt_inside "a > b"> <!-- ] > --> <?pi ]> ?>'
        '<!ENTITY tag_inside "<b>XXXXXXXXXXXXXXXXXXXX</b>">'
    )
    doc = rss(
        "<item><title>&l9;</title><guid>1</guid><description>&tag_inside;</description></item>",
        prolog=f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n{levels}\n{tricky}\n]>',
    )
    (article,) = parse(doc).articles
    assert "lollol" not in article.title
    assert "XXXXXXXXXX" not in article.summary


def test_sanitize_removes_entity_declarations_but_keeps_a_bare_doctype() -> None:
    netscape = (
        '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        ' "http://my.netscape.com/publish/formats/rss-0.91.dtd">'
    )
    assert b"-//Netscape" in sanitize(f"{netscape}<rss version='0.91'/>".encode())
    cleaned = sanitize(b'<!DOCTYPE rss [<!ENTITY a "x">]><rss/><!ENTITY b "y">')
    assert b"ENTITY" not in cleaned
    assert b"DOCTYPE" not in cleaned
    assert cleaned.startswith(b"<?xml version='1.0' encoding='utf-8'?>")


@pytest.mark.parametrize(
    "field",
    [
        "<author>{}</author>",
        "<author><![CDATA[{}]]></author>",
        "<dc:creator>{}</dc:creator>",
        "<managingEditor>{}</managingEditor>",
        "<webMaster>{}</webMaster>",
        "<itunes:author>{}</itunes:author>",
        "<itunes:owner><itunes:name>x</itunes:name><itunes:email>{}</itunes:email></itunes:owner>",
        "<AUTHOR>{}</AUTHOR>",
    ],
)
@pytest.mark.parametrize("well_formed", [True, False])
def test_a_32_kb_author_field_costs_nothing(field: str, well_formed: bool) -> None:
    author = field.format("a" * 32_000)
    tail = "" if well_formed else "<broken>&undefined;"  # forces feedparser's loose parser
    doc = rss(f"{author}<item><title>t</title><guid>g</guid>{author}</item>{tail}")
    started = time.perf_counter()
    parsed = parse(doc)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0  # unpatched feedparser needs seconds per field
    assert [a.title for a in parsed.articles] == ["t"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_documents_are_decoded_and_sanitized(encoding: str) -> None:
    doc = rss(
        "<item><title>Hong Kong — 香港 &a;</title><guid>hk</guid></item>",
        prolog=f'<?xml version="1.0" encoding="{encoding[:6]}"?>'
        '<!DOCTYPE rss [<!ENTITY a "BOOM">]>',
    )
    (article,) = parse(doc.encode(encoding)).articles
    assert article.title.startswith("Hong Kong — 香港")
    assert "BOOM" not in article.title


def test_bom_and_leading_whitespace_are_tolerated() -> None:
    body = (
        b"\xef\xbb\xbf" + rss("<item><title>caf\xc3\xa9</title></item>".encode().decode()).encode()
    )
    assert [a.title for a in parse(body).articles] == ["café"]
    assert [a.title for a in parse("\n\n  " + rss("<item><title>x</title></item>")).articles] == [
        "x"
    ]


def test_the_http_charset_decides_when_the_document_does_not_say() -> None:
    body = rss("<item><title>Café in Zürich</title></item>", prolog="").encode("iso-8859-1")
    parsed = parse(body, content_type="application/rss+xml; charset=ISO-8859-1")
    assert [a.title for a in parsed.articles] == ["Café in Zürich"]


def test_a_body_that_names_a_local_file_is_not_opened(tmp_path: Path) -> None:
    secret = tmp_path / "feed.xml"
    secret.write_text(rss("<item><title>local secret</title></item>"))
    with pytest.raises(ParseError):
        parse(str(secret).encode())


# --- summaries, titles, limits ----------------------------------------------------------------


def test_an_empty_dc_description_does_not_erase_the_real_one() -> None:
    item = (
        "<item><title>t</title><guid>g</guid>"
        "<description><![CDATA[The real description.]]></description>"
        "<content:encoded/><dc:description/></item>"
    )
    assert parse(rss(item)).articles[0].summary == "The real description."


def test_the_summary_falls_back_to_content_encoded() -> None:
    item = (
        "<item><title>t</title><guid>g</guid><description></description>"
        "<content:encoded><![CDATA[<p>Full <i>text</i>.</p>]]></content:encoded></item>"
    )
    assert parse(rss(item)).articles[0].summary == "Full text."


def test_untitled_items() -> None:
    long_summary = "word " * 100
    items = (
        f"<item><guid>a</guid><description>{long_summary}</description></item>"
        "<item><guid>b</guid><link>https://news.example.com/b</link></item>"
    )
    with_summary, bare = parse(rss(items)).articles
    assert len(with_summary.title) <= 100
    assert with_summary.title.endswith("…")
    assert long_summary.startswith(with_summary.title[:-1])
    assert bare.title == "(untitled)"


def test_titles_and_summaries_are_capped_at_a_word_boundary() -> None:
    item = f"<item><title>{'headline ' * 100}</title><description>{'body ' * 2000}</description></item>"
    (article,) = parse(rss(item)).articles
    assert len(article.title) <= 500
    assert article.title.endswith("headline…")
    assert len(article.summary) <= 4000
    assert article.summary.endswith("body…")


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Sat, 01 Mar 2026 11:00:00 GMT", datetime(2026, 3, 1, 11, 0, tzinfo=UTC)),
        ("Sun, 02 Mar 2026 20:00:00 GMT", datetime(2026, 3, 2, 20, 0, tzinfo=UTC)),  # +32 h: kept
        ("Thu, 05 Mar 2026 12:00:00 GMT", None),  # four days ahead: a publisher's mistake
        ("Wed, 31 Dec 9999 23:59:59 GMT", None),
        ("0000-00-00T00:00:00Z", None),
        ("Fri, 31 Feb 2026 10:00:00 GMT", None),
        ("Tue, 15 Sep 2026 25:61:00 GMT", None),
        ("not a date", None),
        ("", None),
    ],
)
def test_dates(date: str, expected: datetime | None) -> None:
    (article,) = parse(rss(f"<item><title>d</title><pubDate>{date}</pubDate></item>")).articles
    assert article.published == expected
    if article.published is not None:
        assert article.published.utcoffset() == timedelta(0)


def test_only_the_first_max_items_are_kept() -> None:
    items = "".join(f"<item><title>n{i}</title><guid>{i}</guid></item>" for i in range(50))
    parsed = parse(rss(items), max_items=10)
    assert [a.title for a in parsed.articles] == [f"n{i}" for i in range(10)]
    assert parse(rss(items), max_items=0).articles == []


def test_a_huge_feed_costs_only_its_first_entries() -> None:
    items = "".join(
        f"<item><title>n{i}</title><guid>{i}</guid><description>{'text ' * 20}</description></item>"
        for i in range(20_000)
    )
    started = time.perf_counter()
    parsed = parse(rss(items))
    elapsed = time.perf_counter() - started
    assert len(parsed.articles) == 1000
    assert parsed.articles[-1].title == "n999"
    assert elapsed < 3.0  # all 20,000 through feedparser take several seconds
