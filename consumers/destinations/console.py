"""The console destination: one readable line per alert on stdout."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from consumers.errors import DeliveryError
from service.models import Alert, Digest, FeedHealthAlert

# Bidirectional overrides and isolates can make a line read differently from what it holds.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def format_console(alert: Alert) -> str:
    """`2024-05-01 12:00 UTC [china, fed] Title — link (feed)`, on one line.

    The time is when the story was published (else when it was fetched). Control characters
    are dropped, so a hostile headline cannot move the cursor or recolour the terminal.
    """
    article = alert.article
    when = (article.published or article.fetched_at).strftime("%Y-%m-%d %H:%M UTC")
    watchlists = ", ".join(m.watchlist for m in alert.matches)
    title = _clean(article.title) or "(untitled)"
    link = _clean(article.link)
    story = f"{title} — {link}" if link else title
    return f"{when} [{_clean(watchlists)}] {story} ({_clean(article.feed.name)})"


class ConsoleDestination:
    """Writes each alert as a line to `stream` (stdout, looked up at send time, by default)."""

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self.min_interval = 0.0
        self._stream = stream

    def __repr__(self) -> str:
        return f"ConsoleDestination(name={self.name!r})"

    async def send(self, alert: Alert) -> None:
        await self._write(format_console(alert))

    async def send_digest(self, digest: Digest) -> None:
        from consumers.destinations.digest_render import format_console_digest

        await self._write(format_console_digest(digest))

    async def send_feed_health(self, alert: FeedHealthAlert) -> None:
        from consumers.destinations.health_render import format_console_health

        await self._write(format_console_health(alert))

    async def _write(self, text: str) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            # In a thread: a stdout piped into a slow reader must not stall the event loop
            # (and with it polling and the other destinations). One worker per destination
            # sends one alert at a time, so lines keep their order.
            await asyncio.to_thread(_write_line, stream, text)
        except OSError as exc:
            # A full disk or a busy pipe can clear up; the policy bounds the retries.
            raise DeliveryError(
                f"console destination {self.name!r} could not write ({type(exc).__name__})",
                retriable=True,
            ) from exc


def _write_line(stream: TextIO, line: str) -> None:
    stream.write(line + "\n")
    stream.flush()


def _clean(text: str) -> str:
    # C0/C1 controls (ESC starts terminal sequences) become spaces; bidi controls vanish.
    visible = "".join(
        " " if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c
        for c in text
        if c not in _BIDI_CONTROLS
    )
    return " ".join(visible.split())
