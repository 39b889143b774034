"""Synthetic feeds whose stories appear over time, for runs that count every alert.

- `StoryFeeds`: N RSS feeds (f00, f01, ...) on a `FeedServer`, newest story first, with ETags;
  it records when each story appeared and which poller (by User-Agent) fetched which feed when.
- `Stream`: adds stories round robin at a steady rate on a thread, some matching no watchlist.

Every story whose title carries `MATCH_WORD` matches the one watchlist `rig.write_config` sets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from types import TracebackType
from typing import Any, Self
from xml.sax.saxutils import escape

from tests.support.feed_server import FeedServer, ReceivedRequest, Reply

# Stories whose title carries this word match the one watchlist every rig config has.
MATCH_WORD = "China"


@dataclass(frozen=True)
class Story:
    feed: str
    guid: str
    title: str
    matches: bool
    added_at: float  # time.monotonic() when the feed first served it


@dataclass(frozen=True)
class Fetch:
    feed: str
    agent: str  # the User-Agent header
    at: float  # time.monotonic()
    status: int


class StoryFeeds:
    """`count` RSS feeds named f00, f01, ... on `server`, newest story first, with ETags."""

    def __init__(self, server: FeedServer, count: int) -> None:
        self.names = [f"f{i:02d}" for i in range(count)]
        self.stories: list[Story] = []
        self.fetches: list[Fetch] = []
        self._items: dict[str, list[Story]] = {name: [] for name in self.names}
        self._bodies: dict[str, bytes] = {name: _rss(name, []) for name in self.names}
        self._next_feed = 0
        self._lock = threading.Lock()
        self.urls = {
            name: server.route(f"/feeds/{name}.xml", self._responder(name)) for name in self.names
        }

    def add(self, feed: str | None = None, *, matches: bool = True) -> Story:
        """Publish one new story (round robin over the feeds unless `feed` is given)."""
        with self._lock:
            if feed is None:
                feed = self.names[self._next_feed % len(self.names)]
                self._next_feed += 1
            number = len(self.stories)
            word = MATCH_WORD if matches else "Bakery"
            story = Story(
                feed=feed,
                guid=f"{feed}-story-{number:05d}",
                title=f"{word} story {number:05d} on {feed}",
                matches=matches,
                added_at=time.monotonic(),
            )
            self.stories.append(story)
            self._items[feed].insert(0, story)
            self._bodies[feed] = _rss(feed, self._items[feed])
            return story

    def expected(self, destinations: Iterable[str]) -> set[tuple[str, str]]:
        """(title, destination) of every alert the stories so far should produce."""
        with self._lock:
            stories = list(self.stories)
        return {(s.title, d) for s in stories if s.matches for d in destinations}

    def fetches_since(self, since: float = 0.0) -> list[Fetch]:
        with self._lock:
            return [f for f in self.fetches if f.at >= since]

    def _responder(self, feed: str) -> Any:
        def respond(request: ReceivedRequest) -> Reply:
            with self._lock:
                version = len(self._items[feed])
                body = self._bodies[feed]
                self.fetches.append(
                    Fetch(
                        feed=feed,
                        agent=request.headers.get("user-agent", ""),
                        at=time.monotonic(),
                        status=200,
                    )
                )
            etag = f'"{feed}-v{version}"'
            headers = {"ETag": etag, "Content-Type": "application/rss+xml"}
            if request.headers.get("if-none-match") == etag:
                return Reply(status=304, headers=headers)
            return Reply(body=body, headers=headers)

        return respond


def _rss(feed: str, stories: Sequence[Story]) -> bytes:
    items = "".join(
        f"<item><guid isPermaLink='false'>{escape(s.guid)}</guid><title>{escape(s.title)}</title>"
        f"<link>https://news.example.org/{escape(s.guid)}</link>"
        f"<description>Story text for {escape(s.guid)}.</description>"
        f"<pubDate>{format_datetime(datetime.now(UTC))}</pubDate></item>"
        for s in stories
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>Feed {feed}</title><link>https://news.example.org/{feed}</link>"
        f"<description>test feed</description>{items}</channel></rss>"
    ).encode()


class Stream:
    """Adds `total` stories round robin over `feeds` at `rate` per second, on a thread.

    Every `non_matching_every`-th story matches no watchlist (0: all of them match), so the
    matcher's filtering is part of what is checked.
    """

    def __init__(
        self, feeds: StoryFeeds, total: int, rate: float, non_matching_every: int = 3
    ) -> None:
        self.feeds = feeds
        self.total = total
        self.rate = rate
        self.non_matching_every = non_matching_every
        self.added = 0
        self._halt = threading.Event()
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="story-stream", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._halt.set()
        self._thread.join()

    def wait_added(self, count: int, within: float = 60.0) -> None:
        with self._progress:
            if not self._progress.wait_for(lambda: self.added >= count, within):
                raise AssertionError(f"only {self.added} of {count} stories added in {within}s")

    def join(self, within: float = 120.0) -> None:
        self.wait_added(self.total, within)

    def _run(self) -> None:
        began = time.monotonic()
        for n in range(self.total):
            # Pace against the start so a slow moment does not stretch the whole stream.
            if self._halt.wait(max(0.0, began + n / self.rate - time.monotonic())):
                return
            every = self.non_matching_every
            self.feeds.add(matches=not (every and n % every == every - 1))
            with self._progress:
                self.added = n + 1
                self._progress.notify_all()
