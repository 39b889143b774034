"""What a long-running process keeps in memory stays bounded: open stories per destination.

With `max_open`, a story index that is full closes its oldest story to open a new one: a
later copy of the closed story opens a story of its own (one more alert, never a lost one),
while copies of the stories still open keep joining them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consumers.stories.index import StoryIndex, StoryItem

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _item(n: int, feed: str, title: str, minutes: int) -> StoryItem:
    return StoryItem(
        f"{feed}-{n}",
        feed,
        title,
        "",
        f"https://{feed}.example/{n}",
        T0 + timedelta(minutes=minutes),
    )


TITLES = [
    "Central bank raises interest rates by half a point",
    "Volcano erupts on remote island forcing evacuations",
    "Tech giant unveils foldable phone with longer battery",
]


def test_a_full_index_closes_its_oldest_story_first() -> None:
    index = StoryIndex(timedelta(hours=48), max_open=2)
    firsts = [index.assign(_item(i, "wire", t, i)) for i, t in enumerate(TITLES)]
    assert all(a.first for a in firsts)
    assert len(index) == 2 and index.closed_early == 1
    # The newest story is still open: another feed's copy joins it.
    joined = index.assign(_item(9, "other", TITLES[2], 10))
    assert (joined.first, joined.story_id) == (False, firsts[2].story_id)
    # The oldest was closed: its copy opens a story of its own.
    reopened = index.assign(_item(8, "other", TITLES[0], 11))
    assert reopened.first and reopened.story_id != firsts[0].story_id
    assert len(index) == 2


def test_without_a_bound_every_story_stays_open_for_the_window() -> None:
    index = StoryIndex(timedelta(hours=48))
    for i, t in enumerate(TITLES):
        index.assign(_item(i, "wire", t, i))
    assert len(index) == 3 and index.closed_early == 0


@pytest.mark.parametrize("configured", [None, 2000])
async def test_the_kafka_delivery_log_remembers_the_newest_outcomes_only(
    configured: int | None,
) -> None:
    """However many alerts go out, the notifier keeps at most `kafka.remembered_outcomes`
    (MAX_REMEMBERED by default) outcomes in memory, the newest; older ones are still in the
    deliveries topic for `dlq list`."""
    from consumers import kafka_outbox
    from consumers.kafka_outbox import MAX_REMEMBERED, DeliveryLog
    from service.bus.kafka import KafkaBus
    from service.settings.sections import KafkaSettings

    now = [1_000_000.0]
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:9")
    if configured is not None:
        settings = KafkaSettings(bootstrap_servers="127.0.0.1:9", remembered_outcomes=configured)
    bus = KafkaBus(settings, producer=None)
    remembered = configured or MAX_REMEMBERED
    log = DeliveryLog(bus, clock=lambda: now[0], remember=bus.cfg.remembered_outcomes)
    total = remembered + remembered // 2
    try:
        for i in range(total):
            log._outcomes[f"alert{i}"] = ("delivered", now[0] + i / 1000)
        now[0] += 1.0  # within PRUNE_EVERY of the start: pruned for its size alone
        log._prune()
        assert len(log._outcomes) == remembered
        assert log.outcome(f"alert{total - 1}") == "delivered"
        assert log.outcome("alert0") is None
    finally:
        await log.stop()  # never started: nothing to close on a broker
    assert kafka_outbox.REMEMBER > 7 * 86400  # the time bound is still the topic's retention


def test_a_kafka_feed_record_keeps_a_few_reads_of_seen_items_not_every_id_ever_seen() -> None:
    """A Kafka poller holds each feed's seen items in memory and writes them on every poll:
    a feed of 20 items that takes a new one each poll keeps its current items and the newest
    of those that left, up to MIN_SEEN, not every id of `seen_retention` (90 days)."""
    from service.kafka_feed_state import MIN_SEEN, kept_seen

    day = 86400.0
    seen: dict[str, float] = {}
    for n in range(1000):
        read = [f"item{k}" for k in range(n, n + 20)]
        seen = kept_seen(seen, read, 1000.0 + n, retention=90 * day)
    assert len(seen) == MIN_SEEN
    assert all(f"item{k}" in seen for k in range(999, 1019))  # the feed as it is now
    assert "item819" in seen and "item818" not in seen  # the newest ones that left it

    # A poll answered 304 (no read) keeps them all; past the retention those absent go.
    unchanged = kept_seen(seen, [], 3000.0, retention=90 * day)
    assert unchanged.keys() == seen.keys()
    assert {i for i, t in unchanged.items() if t == 3000.0} == {
        f"item{k}" for k in range(999, 1019)
    }
    later = kept_seen(seen, [f"item{k}" for k in range(999, 1019)], 5000.0, retention=500.0)
    assert sorted(later) == sorted(f"item{k}" for k in range(999, 1019))


def test_a_large_feed_keeps_four_reads_of_its_size() -> None:
    from service.kafka_feed_state import SEEN_READS, kept_seen

    seen: dict[str, float] = {}
    for n in range(20):
        seen = kept_seen(seen, [f"i{n}-{k}" for k in range(100)], float(n), retention=1e9)
    assert len(seen) == SEEN_READS * 100
    assert all(f"i19-{k}" in seen for k in range(100))
