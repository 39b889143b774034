"""Invariants of story grouping that hold whatever the input and, where the window allows,
whatever the arrival order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.stories import Assignment, StoryIndex, StoryItem
from consumers.stories.index import group
from consumers.stories.similarity import TfIdfCosine

T0 = datetime(2025, 12, 12, 9, 0, tzinfo=UTC)
WINDOW = timedelta(hours=48)

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
titles = st.lists(st.sampled_from(WORDS), min_size=0, max_size=6).map(" ".join)
rows_ = st.lists(
    st.tuples(st.sampled_from(["f1", "f2", "f3"]), titles, st.integers(0, 3), st.floats(0, 40)),
    max_size=25,
)


def _build(rows: list[tuple[str, str, int, float]]) -> list[StoryItem]:
    return [
        StoryItem(f"id{n}", feed, title, "", f"https://x.example/{link}", T0 + timedelta(hours=h))
        for n, (feed, title, link, h) in enumerate(rows)
    ]


def _partition(decided: list[tuple[StoryItem, Assignment]]) -> set[frozenset[str]]:
    members: dict[str, set[str]] = {}
    for item, assignment in decided:
        members.setdefault(assignment.story_id, set()).add(item.article_id)
    return {frozenset(m) for m in members.values()}


@settings(max_examples=150, deadline=None)
@given(rows_)
def test_every_article_belongs_to_exactly_one_story(
    rows: list[tuple[str, str, int, float]],
) -> None:
    given_items = _build(rows)
    index = StoryIndex(WINDOW)
    decided = [(i, index.assign(i)) for i in sorted(given_items, key=lambda i: i.at)]
    firsts: dict[str, int] = {}
    for item, a in decided:
        firsts[a.story_id] = firsts.get(a.story_id, 0) + int(a.first)
        # Asked again, or looked up, an article is in the story it was put in, and only that one.
        assert index.story_of(item.article_id) == a.story_id
        assert index.assign(item) == index.assign(item)
        assert index.assign(item).story_id == a.story_id
        assert item.feed in a.sources or len(a.sources) == index.max_sources
    assert all(count == 1 for count in firsts.values())  # one first copy per story
    assert [i for i, _ in group(given_items, WINDOW)] == given_items


@settings(max_examples=150, deadline=None)
@given(rows_, st.randoms(use_true_random=False))
def test_exact_reposts_group_the_same_way_in_any_order(
    rows: list[tuple[str, str, int, float]], rnd: random.Random
) -> None:
    # Same canonical link within the window: grouped together whatever the arrival order.
    given_items = _build(rows)
    shuffled = list(given_items)
    rnd.shuffle(shuffled)
    for order in (given_items, shuffled):
        story = {i.article_id: a.story_id for i, a in group(order, WINDOW)}
        by_link: dict[str, set[str]] = {}
        for i in order:
            by_link.setdefault(i.link, set()).add(story[i.article_id])
        assert all(len(ids) == 1 for ids in by_link.values())


# Events whose words no other event uses; each copy carries the event's words in another order
# and case, from its own feed, with its own link, all within the window.
EVENT_WORDS = [
    ["tether", "juventus", "exor", "bid", "football"],
    ["kwon", "terraform", "sentenced", "prison", "judge"],
    ["ripple", "circle", "bitgo", "charter", "approval"],
    ["phantom", "kalshi", "prediction", "markets", "wallet"],
    ["youtube", "creators", "pyusd", "payouts", "paypal"],
]
events = st.lists(
    st.tuples(st.integers(0, len(EVENT_WORDS) - 1), st.integers(1, 4)),
    min_size=1,
    max_size=5,
    unique_by=lambda e: e[0],
)


def _copies(chosen: list[tuple[int, int]], rnd: random.Random) -> list[StoryItem]:
    out = []
    for event, copies in chosen:
        for c in range(copies):
            ws = list(EVENT_WORDS[event])
            rnd.shuffle(ws)
            title = " ".join(w.capitalize() if rnd.random() < 0.5 else w for w in ws)
            out.append(
                StoryItem(
                    f"e{event}-c{c}",
                    f"outlet{c}",
                    title,
                    "",
                    f"https://outlet{c}.example/{event}-{c}",
                    T0 + timedelta(minutes=rnd.randrange(600)),
                )
            )
    # Headlines too short to compare stay apart, whatever arrives around them.
    for n, title in enumerate(["", "Tether", "Kwon", "Ripple"]):
        out.append(StoryItem(f"short{n}", f"wire{n}", title, "", f"https://w.example/{n}", T0))
    return out


@settings(max_examples=100, deadline=None)
@given(events, st.randoms(use_true_random=False))
def test_distinct_events_group_the_same_in_any_arrival_order(
    chosen: list[tuple[int, int]], rnd: random.Random
) -> None:
    items = _copies(chosen, rnd)
    expected = {
        frozenset(i.article_id for i in items if i.article_id.startswith(f"e{event}-"))
        for event, _ in chosen
    } | {frozenset({f"short{n}"}) for n in range(4)}
    for _ in range(3):
        # Arrival order, not publication time, decides: feed each permutation to the index.
        order = list(items)
        rnd.shuffle(order)
        index = StoryIndex(WINDOW)
        assert _partition([(i, index.assign(i)) for i in order]) == expected


@settings(max_examples=60, deadline=None)
@given(rows_)
def test_expiring_everything_frees_every_story(rows: list[tuple[str, str, int, float]]) -> None:
    index = StoryIndex(WINDOW)
    given_items = _build(rows)
    for item in given_items:
        index.assign(item)
    index.expire(T0 + WINDOW * 2 + timedelta(hours=41))
    assert len(index) == 0
    assert index.held() == {"stories": 0, "articles": 0, "keys": 0, "entries": 0, "terms": 0}
    assert all(index.story_of(i.article_id) is None for i in given_items)


# Common words (many entries hold them) and rare ones, so that some terms go unfiled.
VOCABULARY = ["market", "price", "coin", "bank", "deal"] * 6 + [f"name{n}" for n in range(40)]
texts = st.lists(st.sampled_from(VOCABULARY), min_size=2, max_size=12).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=40), st.tuples(texts, texts))
def test_pruned_scoring_finds_every_entry_at_the_threshold_with_the_same_cosine(
    stored: list[tuple[str, str]], article: tuple[str, str]
) -> None:
    scorer = TfIdfCosine(at_least=0.35)
    for key, (title, summary) in enumerate(stored):
        scorer.add(key, title, summary)
    every = scorer.scores(*article, at_least=0.0)  # below what it was built for: no pruning
    pruned = scorer.scores(*article, at_least=0.35)
    assert {k: v for k, v in every.items() if v >= 0.35} == {
        k: v for k, v in pruned.items() if v >= 0.35
    }
