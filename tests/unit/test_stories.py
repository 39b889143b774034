"""Story grouping: the cases a user would notice, and invariants that hold in any order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consumers.stories import StoryIndex, StoryItem
from consumers.stories.evaluate import pairwise

T0 = datetime(2025, 12, 12, 9, 0, tzinfo=UTC)
DAY = timedelta(hours=48)


def item(
    n: int, feed: str, title: str, summary: str = "", hours: float = 0, link: str = ""
) -> StoryItem:
    return StoryItem(
        article_id=f"a{n}",
        feed=feed,
        title=title,
        summary=summary,
        link=link or f"https://{feed}.example/{n}",
        at=T0 + timedelta(hours=hours),
    )


TETHER_A = item(
    1,
    "coindesk",
    "Tether offers to buy Italian football club Juventus from Exor",
    "Stablecoin issuer Tether made an all-cash offer for Exor's stake in Juventus.",
)
TETHER_B = item(
    2,
    "decrypt",
    "Tether makes all-cash bid for Exor's Juventus stake",
    "Tether, the issuer of USDT, offered to buy the Juventus football club stake held by Exor.",
    hours=2,
)
OTHER = item(
    3,
    "theblock",
    "Bitcoin miners sell reserves as hashprice falls",
    "Public miners sold bitcoin as revenue per hash dropped to a record low.",
    hours=1,
)


def test_copies_from_different_outlets_share_a_story_and_only_the_first_is_first() -> None:
    index = StoryIndex(DAY)
    first = index.assign(TETHER_A)
    other = index.assign(OTHER)
    copy = index.assign(TETHER_B)
    assert first.first and other.first
    assert copy.story_id == first.story_id and not copy.first
    assert copy.sources == ("coindesk", "decrypt")
    assert other.story_id != first.story_id
    # Asking again is idempotent: a re-read alert decides the same way.
    assert index.assign(TETHER_B) == copy


def test_window_zero_turns_grouping_off() -> None:
    index = StoryIndex(timedelta(0))
    assert index.assign(TETHER_A).first and index.assign(TETHER_B).first
    assert len(index) == 0


def test_a_copy_after_the_window_opens_a_new_story() -> None:
    index = StoryIndex(timedelta(hours=1))
    a = index.assign(TETHER_A)
    index.expire(TETHER_B.at)
    b = index.assign(TETHER_B)
    assert b.first and b.story_id != a.story_id


def test_expired_stories_free_their_state() -> None:
    index = StoryIndex(timedelta(hours=1))
    for n in range(50):
        index.assign(item(100 + n, "wire", f"Story number {n} about subject {n * 7919}", hours=0))
    assert len(index) == 50
    assert index.expire(T0 + timedelta(hours=3)) == 50
    assert len(index) == 0


def test_a_repost_under_a_new_guid_groups_with_itself() -> None:
    index = StoryIndex(DAY)
    a = index.assign(
        item(
            10,
            "cnbc",
            "Stocks making the biggest moves midday: Apple, Tesla",
            link="https://cnbc.example/x",
        )
    )
    b = index.assign(
        item(
            11,
            "cnbc",
            "Stocks making the biggest moves midday: Apple, Tesla",
            hours=5,
            link="https://cnbc.example/x?",
        )
    )
    assert b.story_id == a.story_id and not b.first


def test_empty_and_one_word_titles_never_pull_in_unrelated_articles() -> None:
    index = StoryIndex(DAY)
    assert index.assign(item(20, "a", "")).first
    assert index.assign(item(21, "b", "")).first
    assert index.assign(item(22, "c", "Bitcoin")).first
    assert index.assign(item(23, "d", "Bitcoin")).first
    assert index.assign(item(24, "e", "Bitcoin price falls below 80,000 dollars")).first


def test_empty_and_one_word_titles_stay_apart_even_with_a_story_s_own_summary() -> None:
    # Neither joins the open story it shares every summary word with, nor pulls in what follows.
    index = StoryIndex(DAY)
    opened = index.assign(TETHER_A)
    for n, title in enumerate(["", "Tether", "Juventus!", "BREAKING"]):
        a = index.assign(item(40 + n, f"outlet{n}", title, TETHER_A.summary, hours=0.5))
        assert a.first and a.story_id != opened.story_id, title
    assert index.assign(TETHER_B).story_id == opened.story_id
    later = index.assign(item(50, "outlet9", "Tether", "Tether minted more USDT.", hours=1))
    assert later.first


def test_the_source_list_is_capped() -> None:
    index = StoryIndex(DAY, max_sources=3)
    title = "Do Kwon sentenced to 15 years in prison for Terra collapse fraud"
    last = None
    for n in range(8):
        last = index.assign(
            item(
                30 + n,
                f"outlet{n}",
                title,
                "Terraform founder sentenced in New York.",
                hours=n * 0.1,
            )
        )
    assert last is not None and len(last.sources) == 3


def test_restore_rebuilds_the_same_stories_without_re_deciding() -> None:
    index = StoryIndex(DAY)
    a, b = index.assign(TETHER_A), index.assign(TETHER_B)
    rebuilt = StoryIndex(DAY)
    rebuilt.restore(TETHER_A, a.story_id)
    rebuilt.restore(TETHER_B, b.story_id)
    assert rebuilt.assign(TETHER_B) == b
    again = rebuilt.assign(TETHER_A)
    assert (again.story_id, again.first) == (a.story_id, True)


def test_pairwise_scores_count_pairs() -> None:
    score = pairwise(["s1", "s1", "s2", "s2"], ["x", "x", "x", "y"])
    assert (score.tp, score.fp, score.fn) == (1, 2, 1)
