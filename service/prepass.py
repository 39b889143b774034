"""A fast pass over a feed document that finds its entries and their ids without feedparser.

feedparser builds every entry of a document, while a poll usually brings at most a few new
ones. `scan_entries` reads the (sanitised) document once with expat, the C parser feedparser
itself uses for well-formed documents, and returns each entry's byte span and the guid that
`parse_feed` would derive for it. The poller asks the store which of those ids are new and
hands feedparser a copy of the document holding only the entries that are (`keep_entries`), so
the articles it publishes are still exactly what full feedparser normalisation gives.

The ids are only trusted where feedparser's rules are simple to follow: an entry's one
`<guid>`/`<id>` child (resolved against the feed's URL as feedparser resolves it), an RSS 1.0
item's `rdf:about`, or, with neither, an RSS item's one plain `<link>`. Elements count as
RSS/Atom ones by feedparser's rule (unprefixed, or prefixed in one of its core namespaces).
Anything else (markup inside an id, several ids, non-ASCII ids) leaves the entry's id
unknown, and an entry whose id is unknown is always parsed. A document expat rejects (an
undefined entity, an undeclared prefix, not well-formed), or that sets a base URI
(`xml:base`), is not scanned at all: the caller parses it in full. The poller also checks
that feedparser gives the ids the scan expected for the entries it parsed, and parses in
full when it does not.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin

from service.models import FeedRef, article_id
from service.normalize import canonical_link
from service.parse import ParsedFeed, parse_prepared, prepare

_ENTRY_NAMES = frozenset({"item", "entry"})
# Namespaces whose elements feedparser reads as plain RSS/Atom (its namespace table's "" prefix).
_CORE_NAMESPACES = frozenset(
    {
        "http://backend.userland.com/rss",
        "http://blogs.law.harvard.edu/tech/rss",
        "http://purl.org/rss/1.0/",
        "http://my.netscape.com/rdf/simple/0.9/",
        "http://example.com/newformat#",
        "http://example.com/necho",
        "http://purl.org/echo/",
        "uri/of/echo/namespace#",
        "http://purl.org/pie/",
        "http://purl.org/atom/ns#",
        "http://www.w3.org/2005/Atom",
        "http://purl.org/rss/1.0/modules/rss091#",
    }
)
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_ID_NAMES = frozenset({"guid", "id"})
# What feedparser does to a relative URI before joining it (feedparser.urls._urljoin).
_URIFIXER = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
# Characters feedparser may hand back escaped, or that its entity handling could change.
_UNSURE = re.compile(r"[&<>\"'\s]")


@dataclass(frozen=True)
class Entry:
    """One entry of the document: its byte span, and its article id if the scan is sure."""

    start: int
    end: int
    id: str | None


class _UnscannableError(Exception):
    """The document is parsed in full instead."""


def _join(base: str, uri: str) -> str:
    uri = _URIFIXER.sub(r"\1\3", uri)
    try:
        return urljoin(base, uri)
    except ValueError:
        return ""


def _element(name: str) -> tuple[str, bool]:
    """An expat name ("uri local prefix", "uri local" or "local") as feedparser reads it:
    its lower-cased local name, and whether it is a plain RSS/Atom element (unprefixed, or
    prefixed in one of the core namespaces)."""
    parts = name.split(" ")
    if len(parts) < 3:  # no prefix: feedparser treats it as core whatever its namespace
        return parts[-1].lower(), True
    uri = parts[0].lower()
    return parts[1].lower(), uri in _CORE_NAMESPACES or "backend.userland.com/rss" in uri


def _attribute(name: str) -> tuple[str, str]:
    """An expat attribute name as (namespace, lower-cased local name)."""
    parts = name.split(" ")
    return (parts[0], parts[1].lower()) if len(parts) > 1 else ("", parts[0].lower())


class _Scanner:
    """Expat callbacks: entry spans, and the id-bearing elements inside each entry."""

    def __init__(
        self, parser: xml.parsers.expat.XMLParserType, clean: bytes, feed_name: str, url: str
    ) -> None:
        self._parser = parser
        self._clean = clean
        self._feed = feed_name
        self._url = url
        self.entries: list[Entry] = []
        self._depth = 0  # element depth inside the current entry; 0: not in an entry
        self._start = 0
        self._rss = False
        self._about: str | None = None
        self._ids: list[tuple[str, bool]] = []  # (text, feedparser resolves it as a URI)
        self._links: list[str] = []
        self._unsure = False  # the id cannot be told
        self._odd_links = False  # a link that falling back on the link could not follow
        self._text: list[str] | None = None  # character data of the id or link being read
        self._capture: tuple[str, bool, int] = ("", False, 0)  # kind, resolve, depth

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if attrs and any(_attribute(a)[1] == "base" for a in attrs):
            raise _UnscannableError("a base URI other than the feed's (xml:base)")
        local, core = _element(name)
        if self._depth == 0:
            if local in _ENTRY_NAMES and core:
                self._open(local, attrs)
            return
        self._depth += 1
        if self._text is not None:  # markup inside an id or link
            if self._capture[0] == "id":
                self._unsure = True
            else:
                self._odd_links = True
            return
        if not core:
            return  # feedparser keeps other namespaces' elements apart (media:id, dc:...)
        if local in _ID_NAMES:
            permalink = {a.lower(): v for a, v in attrs.items()}.pop("ispermalink", "true")
            if self._depth != 2 or len(attrs) > ("isPermaLink" in attrs):
                self._unsure = True
            self._begin("id", permalink == "true")
        elif local == "link":
            if self._depth != 2 or attrs:
                self._odd_links = True  # an Atom link, or one inside another element
            else:
                self._begin("link", True)
        elif local in _ENTRY_NAMES:
            self._unsure = True

    def _open(self, local: str, attrs: dict[str, str]) -> None:
        self._depth = 1
        self._start = self._parser.CurrentByteIndex
        self._rss = local == "item"
        self._about = next((v for a, v in attrs.items() if _attribute(a) == (_RDF, "about")), None)
        self._ids, self._links, self._unsure, self._odd_links = [], [], False, False

    def _begin(self, kind: str, resolve: bool) -> None:
        self._capture = (kind, resolve, self._depth)
        self._text = []
        self._parser.CharacterDataHandler = self._text.append

    def end(self, name: str) -> None:
        if self._depth == 0:
            return
        kind, resolve, depth = self._capture
        if self._text is not None and self._depth == depth:
            text = "".join(self._text).strip()
            if kind == "id":
                self._ids.append((text, resolve))
            else:
                self._links.append(text)
            self._text = None
            self._parser.CharacterDataHandler = None
        self._depth -= 1
        if self._depth == 0:
            self._close()

    def _close(self) -> None:
        begin = self._parser.CurrentByteIndex
        if begin <= self._start:  # <item/>: an empty entry; leave such documents to feedparser
            raise _UnscannableError("an empty entry element")
        close = self._clean.find(b">", begin)
        self.entries.append(Entry(self._start, close + 1, self._guid()))

    def _guid(self) -> str | None:
        if self._unsure or len(self._ids) > 1:
            return None
        if self._ids:
            text, resolve = self._ids[0]
            if self._about is not None or not text or not _plain(text, amp=self._rss):
                return None
            guid = _join(self._url, text) if resolve else text
            return article_id(self._feed, guid) if guid else None
        if self._about is not None:
            about = self._about.strip()
            return article_id(self._feed, about) if about and _plain(about) else None
        # No id: feedparser's entry.id is empty and parse_feed falls back on the link.
        if not self._rss or self._odd_links or len(self._links) != 1 or not _plain(self._links[0]):
            return None
        link = canonical_link(_join(self._url, self._links[0]), self._url)
        return article_id(self._feed, link) if link else None


def _plain(text: str, *, amp: bool = False) -> bool:
    """ASCII without characters feedparser might hand back escaped (`&` is safe in RSS: only
    Atom's XHTML content makes feedparser escape text)."""
    return text.isascii() and not _UNSURE.search(text.replace("&", "") if amp else text)


def scan_entries(clean: bytes, *, feed_name: str, url: str) -> list[Entry] | None:
    """The entries of a sanitised document in order, or None when it must be parsed in full."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.namespace_prefixes = True
    scanner = _Scanner(parser, clean, feed_name, url)
    parser.buffer_text = True
    parser.StartElementHandler = scanner.start
    parser.EndElementHandler = scanner.end
    parser.SkippedEntityHandler = _skipped
    try:
        parser.Parse(clean, True)
    except (_UnscannableError, xml.parsers.expat.ExpatError):
        return None
    return scanner.entries or None


def _skipped(name: str, is_parameter_entity: int) -> None:
    raise _UnscannableError(f"an entity expat cannot expand: {name}")


def keep_entries(clean: bytes, entries: list[Entry], keep: list[int]) -> bytes:
    """The document with only the entries at the indexes `keep` (ascending) left in it."""
    kept = set(keep)
    pieces: list[bytes] = []
    pos = 0
    for i, entry in enumerate(entries):
        if i not in kept:
            pieces.append(clean[pos : entry.start])
            pos = entry.end
    pieces.append(clean[pos:])
    return b"".join(pieces)


@dataclass(frozen=True)
class Scan:
    """A document made ready for feedparser, and its entries (None: parse it in full)."""

    clean: bytes
    entries: list[Entry] | None


def scan(body: bytes, *, feed: FeedRef, content_type: str | None, max_items: int) -> Scan:
    """`prepare` the body as `parse_feed` would, then find its entries."""
    clean = prepare(body, content_type=content_type, max_items=max_items)
    try:
        entries = scan_entries(clean, feed_name=feed.name, url=feed.url)
    except Exception:  # a shortcut only: whatever goes wrong, parse in full
        entries = None
    return Scan(clean, None if entries is None else entries[:max_items])


def choose(entries: list[Entry], unseen: Collection[str], *, alerts: bool) -> list[int]:
    """Indexes of the entries feedparser must read: those whose id the scan could not tell,
    and, when the poll may alert (`alerts`), the first entry of each id in `unseen`."""
    chosen: list[int] = []
    taken: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.id is None:
            chosen.append(i)
        elif entry.id not in taken:
            taken.add(entry.id)  # a repeat of an id is dropped, as parse_feed does
            if alerts and entry.id in unseen:
                chosen.append(i)
    return chosen


def parse_chosen(
    scanned: Scan, chosen: list[int], *, feed: FeedRef, fetched_at: datetime, max_items: int
) -> ParsedFeed | None:
    """feedparser over the chosen entries alone; None if its ids are not the scan's."""
    assert scanned.entries is not None
    document = keep_entries(scanned.clean, scanned.entries, chosen)
    parsed = parse_prepared(document, feed=feed, fetched_at=fetched_at, max_items=max_items)
    expected = [scanned.entries[i].id for i in chosen]
    if len(parsed.entry_ids) != len(expected):
        return None
    if any(e is not None and e != got for e, got in zip(expected, parsed.entry_ids, strict=True)):
        return None
    return parsed
