"""Pure helpers that turn feed values into what users see: plain text, canonical links, UTC dates."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, urlunsplit

ELLIPSIS = "…"

# Query parameters that only identify a campaign or a click, never the article itself.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "ref_src",
        "cmpid",
        "ocid",
        "_hsenc",
        "_hsmi",
        "yclid",
        "msclkid",
        "spm",
    }
)
TRACKING_PREFIXES = ("utm_",)

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Elements whose text is never shown to a reader.
_HIDDEN_ELEMENTS = frozenset({"script", "style", "template", "noscript"})
# Elements that separate words: "<p>a</p><p>b</p>" reads "a b", not "ab".
_BREAKING_ELEMENTS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "img", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td",
        "th", "tr", "ul",
    }
)  # fmt: skip
_HTML_CHUNK = 8192
# Unicode category Cc minus the whitespace that split() turns into spaces.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def collapse_whitespace(text: str) -> str:
    """Runs of whitespace (including no-break spaces) become one space; control characters go."""
    return " ".join(_CONTROL.sub("", text).split())


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.visible_chars = 0  # non-whitespace characters kept so far
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_ELEMENTS:
            self._hidden_depth += 1
        elif tag in _BREAKING_ELEMENTS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKING_ELEMENTS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_ELEMENTS:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _BREAKING_ELEMENTS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if self._hidden_depth == 0:
            self.parts.append(data)
            self.visible_chars += len(data) - sum(ch.isspace() for ch in data)


def html_to_text(markup: str, *, max_chars: int | None = None) -> str:
    """Plain text of an HTML fragment: tags stripped, script/style dropped, entities decoded.

    With `max_chars`, parsing stops once that much text has been seen, so a megabyte of
    content costs no more than the few thousand characters a summary keeps.
    """
    if "<" not in markup and "&" not in markup:
        return collapse_whitespace(markup)
    parser = _TextExtractor()
    complete = True
    for start in range(0, len(markup), _HTML_CHUNK):
        parser.feed(markup[start : start + _HTML_CHUNK])
        if max_chars is not None and parser.visible_chars > max_chars:
            complete = False
            break
    if complete:
        parser.close()
    return collapse_whitespace("".join(parser.parts))


def truncate(text: str, limit: int) -> str:
    """`text` at most `limit` characters long, cut at a word boundary and marked with "…"."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return text[:limit]
    head = text[: limit - len(ELLIPSIS) + 1]
    cut = head.rfind(" ")
    # A single enormous "word" (a URL, CJK text without spaces) is cut where it stands.
    head = head[:cut] if cut > 0 else head[:-1]
    return head.rstrip() + ELLIPSIS


def canonical_link(link: str, base: str = "") -> str:
    """The canonical form of an article link, or "" when it is not an http(s) URL.

    Resolved against `base`, whitespace removed, scheme and host lowercased, default port,
    fragment and tracking parameters dropped; the remaining parameters keep their order.
    """
    # Browsers drop whitespace inside URLs too; Google News wraps its links in newlines.
    link = "".join(link.split())
    if not link:
        return ""
    try:
        absolute = urljoin("".join(base.split()), link)
        parts = urlsplit(absolute)
        port = parts.port
    except ValueError:  # malformed IPv6 literal or port
        return ""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username is not None or parts.password is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{netloc}"
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def _is_tracking(param: str) -> bool:
    name = param.partition("=")[0].lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def to_utc(parsed: Sequence[int] | None) -> datetime | None:
    """A feedparser `*_parsed` value (a UTC struct_time) as an aware datetime, or None if invalid.

    feedparser hands back year -1 for "0000-00-00", years past 9999 and other impossible
    values; none of them may crash a poll, so they all mean "no date".
    """
    if parsed is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(v) for v in tuple(parsed)[:6])
        if not 1 <= year <= 9999:
            return None
        # A leap second (60) or a sloppy 61 is still that minute.
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
