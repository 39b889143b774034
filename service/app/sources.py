"""Reading the sources of the dry runs (`match`, `stories`, `eval`): a feed file or a URL.

A URL is fetched as the poller would (private addresses refused unless allowed, body capped);
a file is read up to `polling.max_body`. Both are parsed off the event loop.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from service.app.embedded import fetch_limits
from service.errors import NewsalertError, SourceError
from service.fetch import Fetcher, make_client
from service.models import Article, FeedRef
from service.parse import parse_feed
from service.settings import Settings


async def read_each(
    sources: Sequence[str], settings: Settings
) -> AsyncIterator[tuple[str, list[Article] | None]]:
    """Each source with its articles, or None once its one-sentence error is on stderr."""
    limits = fetch_limits(settings)
    async with make_client(limits) as client:
        fetcher = Fetcher(client, limits)
        for source in sources:
            try:
                yield source, await read_articles(source, settings, fetcher)
            except NewsalertError as exc:
                print(f"newsalert: {source}: {exc}", file=sys.stderr)
                yield source, None


async def read_articles(source: str, settings: Settings, fetcher: Fetcher) -> list[Article]:
    """The articles of one source, normalised as the poller would; raises NewsalertError."""
    body, feed, content_type = await read_source(source, settings, fetcher)
    parsed = await asyncio.to_thread(
        parse_feed,
        body,
        feed=feed,
        fetched_at=datetime.now(UTC),
        content_type=content_type,  # as the poller does: the header's charset counts
        max_items=settings.polling.max_items,
    )
    return list(parsed.articles)


async def read_source(
    source: str, settings: Settings, fetcher: Fetcher
) -> tuple[bytes, FeedRef, str | None]:
    """The source's bytes, the feed it stands for, and its Content-Type (None for a file)."""
    configured = {f.url: f for f in settings.feeds}
    if urlsplit(source).scheme in ("http", "https"):
        feed_cfg = configured.get(source)
        allow = (
            settings.feed_allow_private(feed_cfg) if feed_cfg else settings.network.allow_private
        )
        result = await fetcher.fetch(source, allow_private=allow)
        name = feed_cfg.name if feed_cfg else (urlsplit(source).hostname or source)
        return result.body, FeedRef(name=name, url=source), result.content_type
    path = Path(source)
    body, uri = await asyncio.to_thread(_read_capped, path, settings.polling.max_body)
    return body, FeedRef(name=path.stem, url=uri), None


def _read_capped(path: Path, cap: int) -> tuple[bytes, str]:
    """The file's bytes (refusing one over `cap`) and its file:// URI."""
    try:
        with path.open("rb") as handle:
            body = handle.read(cap + 1)
    except OSError as exc:
        raise SourceError(f"cannot read the file: {exc.strerror}") from None
    if len(body) > cap:
        raise SourceError(f"the file is larger than polling.max_body ({cap} bytes)")
    return body, path.absolute().as_uri()
