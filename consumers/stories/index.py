"""StoryIndex: assigns each article to a story among those open within the window.

An article joins an open story when it is a copy of one of the story's articles: the same
canonical link, the same normalised title (a feed re-posting an item under a new guid), or,
for an article of another feed, a TF-IDF cosine of title and summary start at or above the
threshold. Within one feed only a re-post groups: a feed's own recurring series ("Stocks
making the biggest moves midday: ...") look alike and are different stories every time. Otherwise it opens a story
of its own, whose id is its article id. Decisions are greedy and final (an alert has gone out
under that story id), so the grouping can depend on arrival order; what does not depend on it
is stated in tests/unit/test_stories_property.py.

Bounds: only the first MAX_ENTRIES articles of a story are kept to compare against, the
sources list stops at `max_sources`, `expire(now)` frees every story opened more than the
window before `now`, and with `max_open` opening a story beyond that many closes the oldest
first (a later copy of it then opens a story of its own). Titles of fewer than MIN_TERMS content words never match by similarity,
and of fewer than MIN_TITLE_KEY_TERMS never by title, so an empty or one-word headline pulls
nothing in.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from consumers.stories.similarity import Scorer, ShingleJaccard, TfIdfCosine
from consumers.stories.text import terms

# "keys": same canonical link or same normalised title; "+" adds a similarity for other feeds.
Method = Literal["link", "title", "shingle", "tfidf", "keys+shingle", "keys+tfidf"]
METHODS: tuple[Method, ...] = ("link", "title", "shingle", "tfidf", "keys+shingle", "keys+tfidf")
# Similarity at or above which an article is a copy; chosen by bench/stories_eval.py.
THRESHOLDS: dict[Method, float] = {
    "shingle": 0.2,
    "tfidf": 0.35,
    "keys+shingle": 0.2,
    "keys+tfidf": 0.35,
}
MAX_ENTRIES = 8
MIN_TERMS = 2
MIN_TITLE_KEY_TERMS = 3


@dataclass(frozen=True)
class StoryItem:
    """What grouping needs of an article; `at` is its time (published, else fetched)."""

    article_id: str
    feed: str
    title: str
    summary: str
    link: str
    at: datetime


@dataclass(frozen=True)
class Assignment:
    """The story an article belongs to; `first` when it opened it; `sources`: distinct feeds."""

    story_id: str
    first: bool
    sources: tuple[str, ...]


@dataclass
class _Story:
    id: str
    opened: datetime
    sources: list[str] = field(default_factory=list)
    entries: list[int] = field(default_factory=list)
    articles: list[str] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)


class StoryIndex:
    """Open stories of the last `window`; `window == 0` makes every article its own story."""

    def __init__(
        self,
        window: timedelta,
        max_sources: int = 20,
        *,
        method: Method = "keys+tfidf",
        threshold: float | None = None,
        max_open: int | None = None,
    ) -> None:
        if window < timedelta(0):
            raise ValueError("window must not be negative")
        if max_sources < 1:
            raise ValueError("max_sources must be at least 1")
        if max_open is not None and max_open < 1:
            raise ValueError("max_open must be at least 1")
        self.window = window
        self.max_sources = max_sources
        self.max_open = max_open
        self.closed_early = 0  # stories closed before their window ended, to stay in max_open
        self.method: Method = method
        self.threshold = THRESHOLDS.get(method, 1.0) if threshold is None else threshold
        self._use_link = method in ("link", "keys+shingle", "keys+tfidf")
        self._use_title = method in ("title", "keys+shingle", "keys+tfidf")
        self._scorer: Scorer | None = None
        if method.endswith("shingle"):
            self._scorer = ShingleJaccard()
        elif method.endswith("tfidf"):
            self._scorer = TfIdfCosine(at_least=self.threshold)
        self._stories: dict[str, _Story] = {}
        self._by_article: dict[str, str] = {}
        self._by_key: dict[tuple[str, str], str] = {}
        self._entry_story: dict[int, str] = {}
        self._entry_feed: dict[int, str] = {}
        self._next_entry = 0
        self._expiry: list[tuple[datetime, str]] = []

    def __len__(self) -> int:
        return len(self._stories)

    def assign(self, item: StoryItem) -> Assignment:
        """The story of `item`, joining an open one or opening a new one. Idempotent per id."""
        if self.window == timedelta(0):
            return Assignment(item.article_id, True, (item.feed,))
        known = self._by_article.get(item.article_id)
        if known is not None:
            story = self._stories[known]
            return Assignment(story.id, story.articles[0] == item.article_id, self._sources(story))
        keys, comparable = self._features(item)
        story_id = self._find(item, keys, comparable)
        if story_id is None:
            story = self._open(item.article_id, item.at)
            self._add(story, item, keys, comparable)
            return Assignment(story.id, True, self._sources(story))
        story = self._stories[story_id]
        self._add(story, item, keys, comparable)
        return Assignment(story.id, False, self._sources(story))

    def restore(self, item: StoryItem, story_id: str) -> None:
        """Put `item` back into `story_id` as a persisted record says, without re-deciding."""
        if self.window == timedelta(0) or item.article_id in self._by_article:
            return
        story = self._stories.get(story_id) or self._open(story_id, item.at)
        if item.at < story.opened:
            story.opened = item.at
            heapq.heappush(self._expiry, (story.opened, story.id))
        self._add(story, item, *self._features(item))

    def expire(self, now: datetime) -> int:
        """Free every story opened more than the window before `now`; the number freed."""
        freed = 0
        limit = now - self.window
        while self._expiry and self._expiry[0][0] < limit:
            opened, story_id = heapq.heappop(self._expiry)
            story = self._stories.get(story_id)
            if story is None or story.opened != opened:
                continue  # already freed, or re-dated by restore (its newer entry is queued)
            self._free(story)
            freed += 1
        return freed

    def held(self) -> dict[str, int]:
        """What the index holds, by kind: all zero once every story has expired."""
        return {
            "stories": len(self._stories),
            "articles": len(self._by_article),
            "keys": len(self._by_key),
            "entries": len(self._entry_story),
            "terms": len(self._scorer) if self._scorer is not None else 0,
        }

    def story_of(self, article_id: str) -> str | None:
        """The story an article was assigned to, while that story is open."""
        return self._by_article.get(article_id)

    def _sources(self, story: _Story) -> tuple[str, ...]:
        return tuple(story.sources)

    def _features(self, item: StoryItem) -> tuple[list[tuple[str, str]], bool]:
        """The item's keys, and whether its title has the terms to compare by similarity."""
        title_terms = terms(item.title)
        keys = []
        if self._use_link and item.link:
            keys.append(("link", item.link))
        if self._use_title and len(title_terms) >= MIN_TITLE_KEY_TERMS:
            keys.append(("title", " ".join(title_terms)))
        return keys, len(title_terms) >= MIN_TERMS

    def _in_window(self, story: _Story, at: datetime) -> bool:
        return abs(at - story.opened) <= self.window

    def _find(self, item: StoryItem, keys: list[tuple[str, str]], comparable: bool) -> str | None:
        for key in keys:
            story_id = self._by_key.get(key)
            if story_id is not None and self._in_window(self._stories[story_id], item.at):
                return story_id
        if self._scorer is None or not comparable:
            return None
        best: tuple[float, int] | None = None
        scores = self._scorer.scores(item.title, item.summary, self.threshold)
        for entry, score in scores.items():
            if score < self.threshold or self._entry_feed[entry] == item.feed:
                continue
            if not self._in_window(self._stories[self._entry_story[entry]], item.at):
                continue
            if best is None or (score, -entry) > (best[0], -best[1]):
                best = (score, entry)
        return None if best is None else self._entry_story[best[1]]

    def _open(self, story_id: str, at: datetime) -> _Story:
        while self.max_open is not None and len(self._stories) >= self.max_open:
            self._close_oldest()
        story = _Story(id=story_id, opened=at)
        self._stories[story_id] = story
        heapq.heappush(self._expiry, (at, story_id))
        return story

    def _close_oldest(self) -> None:
        while self._expiry:
            opened, story_id = heapq.heappop(self._expiry)
            story = self._stories.get(story_id)
            if story is not None and story.opened == opened:
                self._free(story)
                self.closed_early += 1
                return

    def _add(
        self, story: _Story, item: StoryItem, keys: list[tuple[str, str]], comparable: bool
    ) -> None:
        story.articles.append(item.article_id)
        self._by_article[item.article_id] = story.id
        if item.feed not in story.sources and len(story.sources) < self.max_sources:
            story.sources.append(item.feed)
        for key in keys:
            if key not in self._by_key:
                self._by_key[key] = story.id
                story.keys.append(key)
        if self._scorer is not None and len(story.entries) < MAX_ENTRIES and comparable:
            entry = self._next_entry
            self._next_entry += 1
            self._scorer.add(entry, item.title, item.summary)
            self._entry_story[entry] = story.id
            self._entry_feed[entry] = item.feed
            story.entries.append(entry)

    def _free(self, story: _Story) -> None:
        del self._stories[story.id]
        for article in story.articles:
            self._by_article.pop(article, None)
        for key in story.keys:
            if self._by_key.get(key) == story.id:
                del self._by_key[key]
        for entry in story.entries:
            del self._entry_story[entry]
            del self._entry_feed[entry]
            if self._scorer is not None:
                self._scorer.remove(entry)


def group(
    items: Iterable[StoryItem],
    window: timedelta,
    *,
    max_sources: int = 20,
    method: Method = "keys+tfidf",
    threshold: float | None = None,
) -> list[tuple[StoryItem, Assignment]]:
    """Group `items` into stories (the dry run): decided in time order, returned as given."""
    given = list(items)
    index = StoryIndex(window, max_sources, method=method, threshold=threshold)
    decided: dict[int, Assignment] = {}
    for position in sorted(range(len(given)), key=lambda i: given[i].at):
        index.expire(given[position].at)
        decided[position] = index.assign(given[position])
    return [(item, decided[i]) for i, item in enumerate(given)]
