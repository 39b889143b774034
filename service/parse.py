"""Feed bytes to normalised Articles: pure and synchronous (the poller runs it in a thread).

feedparser is lenient, which is what real feeds need, but it trusts the document: it re-inserts
"safe" entity declarations (so a quadratic blowup expands in full) and runs a backtracking
e-mail regex over author fields. `sanitize` takes those levers away before feedparser sees the
bytes (and the bytes go in as a stream: feedparser opens a `bytes` argument as a file path if
it can); `parse_feed` then refuses what is not a feed and normalises what is.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import feedparser
from feedparser.encodings import convert_to_utf8

from service.errors import ParseError
from service.models import Article, FeedRef, article_id
from service.normalize import canonical_link, html_to_text, to_utc, truncate

TITLE_MAX = 500
SUMMARY_MAX = 4000
UNTITLED = "(untitled)"
# A date this far past the fetch is a publisher's mistake (or 9999-12-31); we say "no date"
# rather than let it sort first forever. Two days leave room for mislabelled time zones.
FUTURE_TOLERANCE = timedelta(days=2)


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    articles: list[Article]  # in document order
    # Ids of every entry read, repeats included, in document order (service/prepass.py checks
    # its own reading of the document against them).
    entry_ids: tuple[str, ...] = ()


def parse_feed(
    body: bytes,
    *,
    feed: FeedRef,
    fetched_at: datetime,
    content_type: str | None = None,
    max_items: int = 1000,
) -> ParsedFeed:
    """Parse an RSS or Atom document into Articles; raise ParseError if it is not a feed.

    Only the first `max_items` entries are kept. Entries repeating an earlier id are dropped.
    A date more than FUTURE_TOLERANCE after `fetched_at` becomes None, like any invalid date.
    """
    clean = prepare(body, content_type=content_type, max_items=max_items)
    return parse_prepared(clean, feed=feed, fetched_at=fetched_at, max_items=max_items)


def prepare(body: bytes, *, content_type: str | None = None, max_items: int = 1000) -> bytes:
    """What feedparser is given: the body sanitised, cut to its first `max_items` entries."""
    if not body.strip():
        raise ParseError("not an RSS or Atom feed: the response body is empty")
    return _keep_first_entries(sanitize(body, content_type=content_type), max_items)


def parse_prepared(
    clean: bytes, *, feed: FeedRef, fetched_at: datetime, max_items: int = 1000
) -> ParsedFeed:
    """`parse_feed` of a document that `prepare` has already made ready."""
    try:
        # The body is UTF-8 now, whatever it was; Content-Location makes links absolute.
        parsed = feedparser.parse(
            io.BytesIO(clean),
            response_headers={
                "content-type": "application/xml; charset=utf-8",
                "content-location": feed.url,
            },
            sanitize_html=False,  # we keep plain text only; html_to_text drops script/style
            resolve_relative_uris=False,  # links inside content are discarded anyway
        )
    except Exception as exc:  # feedparser's own bugs on hostile input: still "not a feed"
        raise ParseError(f"not an RSS or Atom feed: the parser failed ({exc!r:.200})") from exc
    entries: list[Any] = parsed.get("entries", [])
    if not parsed.get("version") and not entries:
        raise ParseError(f"not an RSS or Atom feed: {_describe_non_feed(clean)}")

    articles: list[Article] = []
    ids: list[str] = []
    seen: set[str] = set()
    not_after = fetched_at + FUTURE_TOLERANCE
    for entry in entries[:max_items]:
        article = _to_article(entry, feed=feed, fetched_at=fetched_at, not_after=not_after)
        ids.append(article.id)
        if article.id not in seen:
            seen.add(article.id)
            articles.append(article)
    title = truncate(html_to_text(str(parsed.get("feed", {}).get("title", ""))), TITLE_MAX)
    return ParsedFeed(title=title, articles=articles, entry_ids=tuple(ids))


_ENTRY_CLOSE = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>", re.IGNORECASE)


def _keep_first_entries(clean: bytes, max_items: int) -> bytes:
    """Cut the entries after the first `max_items` out of the document before parsing.

    feedparser builds every entry (a 20,000-item feed takes seconds); entries are siblings,
    so dropping the span from the end of entry N to the end of the last one keeps the
    document well-formed.
    """
    keep = max(max_items, 1)  # zero entries is the caller's slice; the document stays whole
    closes = list(_ENTRY_CLOSE.finditer(clean))
    if len(closes) <= keep:
        return clean
    return clean[: closes[keep - 1].end()] + clean[closes[-1].end() :]


def _to_article(
    entry: dict[str, Any], *, feed: FeedRef, fetched_at: datetime, not_after: datetime
) -> Article:
    link = canonical_link(_entry_link(entry), feed.url)
    summary = truncate(_summary_text(entry), SUMMARY_MAX)
    title = truncate(html_to_text(_text(entry.get("title")), max_chars=TITLE_MAX), TITLE_MAX)
    if not title:
        title = truncate(summary, 100) or UNTITLED
    guid = _text(entry.get("id")).strip() or link or _content_hash(title, summary)
    # dict.get: feedparser's own .get maps a missing updated_parsed to published_parsed with a
    # DeprecationWarning; we want exactly what the document said.
    published = to_utc(dict.get(entry, "published_parsed")) or to_utc(
        dict.get(entry, "updated_parsed")
    )
    if published is not None and published > not_after:
        published = None
    return Article(
        id=article_id(feed.name, guid),
        feed=feed,
        title=title,
        summary=summary,
        link=link,
        published=published,
        fetched_at=fetched_at,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _entry_link(entry: Mapping[str, Any]) -> str:
    link = _text(entry.get("link"))
    if link.strip():
        return link
    for candidate in entry.get("links") or []:
        href = _text(candidate.get("href"))
        if href.strip() and candidate.get("rel", "alternate") == "alternate":
            return href
    return ""


def _summary_text(entry: Mapping[str, Any]) -> str:
    """The description as text; content:encoded / Atom content when the description is empty."""
    sources = [_text(entry.get("summary"))]
    sources += [_text(c.get("value")) for c in entry.get("content") or [] if hasattr(c, "get")]
    for source in sources:
        text = html_to_text(source, max_chars=SUMMARY_MAX)
        if text:
            return text
    return ""


def _content_hash(title: str, summary: str) -> str:
    return "sha256:" + hashlib.sha256(f"{title}\x1f{summary}".encode()).hexdigest()


def _describe_non_feed(clean: bytes) -> str:
    head = clean[:4096].lower()
    if b"<html" in head or b"<!doctype html" in head or b"<body" in head:
        return "it looks like an HTML page"
    if not re.search(rb"<[a-z_]", head.split(b"?>", 1)[-1]):
        return "the document has no elements"
    return "no <rss>, <feed> or <rdf:RDF> element was found"


# --- sanitize: what feedparser is allowed to see ------------------------------------------


def sanitize(body: bytes, *, content_type: str | None = None) -> bytes:
    """`body` as UTF-8 XML with no entity declarations, no DTD subset and no author elements.

    Decoding uses feedparser's own detection (BOM, XML declaration, `content_type`
    charset), so we look at exactly the characters feedparser would; the result carries an
    `encoding='utf-8'` declaration and must be parsed as UTF-8.
    """
    headers = {"content-type": content_type} if content_type else {}
    utf8 = convert_to_utf8(headers, _strip_leading_whitespace(body), {})
    text = utf8.decode("utf-8", "replace")
    text = _strip_doctype_subset(text)
    text = _strip_entity_declarations(text)
    text = _rename_author_elements(text)
    text = _drop_empty_descriptions(text)
    return text.encode("utf-8")


def _strip_leading_whitespace(body: bytes) -> bytes:
    # PHP feeds often start with a newline, which puts the XML declaration out of place and
    # sends feedparser to its slower, looser parser. Leave UTF-16/32 (NUL bytes) alone.
    stripped = body.lstrip(b" \t\r\n")
    if stripped[:1] == b"<" and stripped[1:2] not in (b"", b"\x00"):
        return stripped
    return body


_PROLOG_DOCTYPE = re.compile(r"<!doctype", re.IGNORECASE)
_DOCTYPE_TOKEN = re.compile(r"""["'\[\]>]|<!--|<\?""")
_DECL_TOKEN = re.compile(r"""["'>]""")
_ENTITY_DECL = re.compile(r"<!ENTITY", re.IGNORECASE)


def _strip_doctype_subset(text: str) -> str:
    """Remove a DOCTYPE with an internal subset from the prolog (a bare DOCTYPE is harmless).

    Walks the prolog the way an XML parser does (declaration, comments, PIs) so a quoted `>`
    or `<b>` inside an entity value cannot hide the end of the subset.
    """
    pieces: list[str] = []
    kept = pos = 0  # text[kept:] is not yet copied into pieces
    while (lt := text.find("<", pos)) >= 0:
        if text.startswith("<?", lt):
            pos = _after(text, "?>", lt + 2)
        elif text.startswith("<!--", lt):
            pos = _after(text, "-->", lt + 4)
        elif _PROLOG_DOCTYPE.match(text, lt):
            pos, has_subset = _doctype_end(text, lt + 9)
            if has_subset:
                pieces += [text[kept:lt], " "]
                kept = pos
        elif text.startswith("<!", lt):
            pos = _declaration_end(text, lt + 2)
        else:
            break  # the root element: the prolog is over
    pieces.append(text[kept:])
    return "".join(pieces)


def _after(text: str, terminator: str, start: int) -> int:
    found = text.find(terminator, start)
    return len(text) if found < 0 else found + len(terminator)


def _doctype_end(text: str, pos: int) -> tuple[int, bool]:
    """End of the DOCTYPE starting before `pos`, and whether it has an internal subset.

    An unterminated DOCTYPE runs to the end of the document (which then has no root).
    """
    in_subset = has_subset = False
    while match := _DOCTYPE_TOKEN.search(text, pos):
        mark = match.group()
        if mark in ("'", '"'):
            pos = _after(text, mark, match.end())
        elif mark == "<!--":
            pos = _after(text, "-->", match.end())
        elif mark == "<?":
            pos = _after(text, "?>", match.end())
        elif mark == "[":
            in_subset = has_subset = True
            pos = match.end()
        elif mark == "]":
            in_subset = False
            pos = match.end()
        elif not in_subset:  # ">"
            return match.end(), has_subset
        else:
            pos = match.end()
    return len(text), True


def _declaration_end(text: str, pos: int) -> int:
    """End of a `<!...>` markup declaration, skipping `>` inside quoted literals."""
    while match := _DECL_TOKEN.search(text, pos):
        if match.group() == ">":
            return match.end()
        pos = _after(text, match.group(), match.end())
    return len(text)


def _strip_entity_declarations(text: str) -> str:
    """Replace every `<!ENTITY ...>` anywhere with a space: no entity can then be defined.

    A space, not nothing, so the pieces around a removed declaration cannot join into a new one.
    """
    if not _ENTITY_DECL.search(text):
        return text
    pieces: list[str] = []
    pos = 0
    while match := _ENTITY_DECL.search(text, pos):
        pieces += [text[pos : match.start()], " "]
        pos = _declaration_end(text, match.end())
    pieces.append(text[pos:])
    return "".join(pieces)


# Every element name feedparser hands to its author/publisher handlers (plain, dc:, itunes:).
_AUTHOR_TAG = re.compile(
    r"<(/?)([\w.-]+:)?(author|creator|managingEditor|webMaster|publisher|owner)(?![\w.:-])",
    re.IGNORECASE,
)


def _rename_author_elements(text: str) -> str:
    """Rename author-like elements so feedparser treats them as unknown and skips them.

    feedparser runs a backtracking e-mail regex over every author and publisher value
    (feedparser issue 562: a 32 KB author costs seconds per item). Truncating those fields
    would need our idea of where an element ends to agree with both of feedparser's parsers
    (expat, and sgmllib for broken documents), which crafted input can defeat. Renaming is
    purely lexical, so it cannot be defeated, and articles carry no author anyway.
    """
    return _AUTHOR_TAG.sub(r"<\1\2na-\3", text)


_EMPTY_DESCRIPTION = re.compile(
    r"<((?:[\w.-]+:)?(?:description|encoded|summary))(?:\s[^<>]*)?"
    r"(?:/>|>(?:\s|<!\[CDATA\[\s*\]\]>)*</\1\s*>)",
    re.IGNORECASE,
)


def _drop_empty_descriptions(text: str) -> str:
    """Remove empty description elements: feedparser lets a later empty one (CoinDesk's
    `<dc:description/>` after the real `<description>`) overwrite the real summary."""
    return _EMPTY_DESCRIPTION.sub("", text)
