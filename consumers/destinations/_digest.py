"""What the Teams, ntfy, Telegram and Discord renderers share: digest entries and text cutting.

Pure. A digest lists each story once (the story desk already sends one alert per story and
destination; a repeat of a story id is dropped here too), under the first watchlist it matched,
with the feeds that carried it, so every service's digest reads the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from service.models import Alert, Digest

ELLIPSIS = "…"

Part = TypeVar("Part")


@dataclass(frozen=True)
class Entry:
    """One story of a digest: its title (one line), link (http(s) or None) and sources."""

    title: str
    link: str | None
    sources: tuple[str, ...]


def digest_groups(digest: Digest) -> list[tuple[str, list[Entry]]]:
    """Watchlists in the order they first appear, each with its stories in the order held."""
    groups: dict[str, list[Entry]] = {}
    seen: set[str] = set()
    for alert in digest.alerts:
        key = alert.story.id if alert.story is not None else alert.id
        if key in seen:
            continue
        seen.add(key)
        name = one_line(alert.matches[0].watchlist) if alert.matches else "(no watchlist)"
        groups.setdefault(name, []).append(entry_of(alert))
    return list(groups.items())


def entry_of(alert: Alert) -> Entry:
    feed = one_line(alert.article.feed.name)
    sources = [one_line(s) for s in alert.story.sources] if alert.story is not None else []
    if feed not in sources:
        sources.insert(0, feed)
    return Entry(
        title=one_line(alert.article.title) or "(untitled)",
        link=http_link(alert.article.link),
        sources=tuple(s for s in sources if s),
    )


def fit_groups(
    groups: Sequence[tuple[str, list[Entry]]],
    heading: Callable[[str, int], Part],
    line: Callable[[Entry], Part],
    cost: Callable[[Part], int],
    room: int,
    max_stories: int | None = None,
) -> tuple[list[Part], int]:
    """Each watchlist's heading, then its stories' lines, in order, until the next part would
    cost more than is left of `room` (or `max_stories` are shown): the parts and the number of
    stories shown. The caller adds "+N more" for the rest.
    """
    parts: list[Part] = []
    shown = 0

    def fits(part: Part) -> bool:
        nonlocal room
        size = cost(part)
        if size > room or (max_stories is not None and shown >= max_stories):
            return False
        parts.append(part)
        room -= size
        return True

    for watchlist, entries in groups:
        if not fits(heading(watchlist, len(entries))):
            return parts, shown
        for entry in entries:
            if not fits(line(entry)):
                return parts, shown
            shown += 1
    return parts, shown


def story_count(digest: Digest) -> int:
    return sum(len(entries) for _, entries in digest_groups(digest))


def span(digest: Digest) -> str:
    """The digest's window, `2024-05-01 12:00–13:00 UTC`."""
    start, end = digest.window.start, digest.window.end
    fmt = "%H:%M" if start.date() == end.date() else "%Y-%m-%d %H:%M"
    return f"{start.strftime('%Y-%m-%d %H:%M')}–{end.strftime(fmt)} UTC"


def digest_heading(digest: Digest) -> str:
    count = story_count(digest)
    return f"Digest: {count} {'story' if count == 1 else 'stories'}, {span(digest)}"


def one_line(text: str) -> str:
    """Whitespace (newlines included) folded to single spaces: a title stays one line."""
    return " ".join(text.split())


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, ending in an ellipsis when something was cut."""
    if limit <= 0:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def cut_bytes(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes, never splitting a character, with an ellipsis when cut."""
    if len(text.encode()) <= limit:
        return text
    room = limit - len(ELLIPSIS.encode())
    if room <= 0:
        return ""
    return text.encode()[:room].decode("utf-8", errors="ignore") + ELLIPSIS


def http_link(link: str) -> str | None:
    """The link when it is an absolute http(s) URL without whitespace, else None."""
    link = link.strip()
    parts = urlsplit(link)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(c.isspace() or not c.isprintable() for c in link):
        return None
    return link
