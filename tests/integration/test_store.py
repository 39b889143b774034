"""The embedded store on a real SQLite file: retention, the bus log, the outbox."""

from __future__ import annotations

from pathlib import Path

from service.store import FeedState, Store


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


DAY = 86400.0


async def test_items_still_in_a_quiet_feed_are_never_forgotten(tmp_path: Path) -> None:
    clock = Clock()
    store = await Store.open(tmp_path / "s.db", clock)
    try:
        state = FeedState(feed="wire", url="https://e.org/rss")
        await store.feeds.save_feed_state(state, ["a", "b"])
        clock.now += DAY
        await store.feeds.save_feed_state(state, ["b", "c"])  # "a" has left the feed
        for _ in range(30):  # a month of 304s and failures
            clock.now += DAY
            await store.feeds.save_feed_state(state)
        removed = await store.prune(
            seen_before=clock.now - 7 * DAY, consumed_before=0, delivered_before=0
        )
        assert removed == 1
        assert await store.feeds.unseen("wire", ["a", "b", "c"]) == {"a"}
    finally:
        await store.close()


async def test_bus_log_survives_reopen_and_offsets_are_per_group(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s.db")
    await store.bus.append_messages("articles", [("k1", b"one"), ("k2", b"two")])
    await store.bus.ensure_offset("articles", "matcher")
    first = await store.bus.read_messages("articles", "matcher", 10)
    await store.bus.commit_offset("articles", "matcher", first[0][0])
    await store.close()

    store = await Store.open(tmp_path / "s.db")
    try:
        assert [v for _, _, v in await store.bus.read_messages("articles", "matcher", 10)] == [
            b"two"
        ]
        assert await store.bus.backlog("articles", "matcher") == 1
        assert len(await store.bus.read_messages("articles", "other", 10)) == 2
    finally:
        await store.close()


async def test_outbox_ignores_known_ids_and_replay_resets_dead_letters(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s.db")
    try:
        assert await store.outbox.enqueue([("x", "hook", b"{}"), ("y", "hook", b"{}")]) == 2
        assert await store.outbox.enqueue([("x", "hook", b"{}")]) == 0
        await store.outbox.mark_delivered("x", 1)
        await store.outbox.mark_dead("y", 8, "HTTP 500")
        assert await store.outbox.enqueue([("x", "hook", b"{}")]) == 0  # delivered stays delivered
        assert [r.alert_id for r in await store.outbox.dead_letters()] == ["y"]
        assert await store.outbox.replay(["y"]) == 1
        [row] = await store.outbox.due("hook", now=2e9, limit=5)
        assert (row.alert_id, row.attempts) == ("y", 0)
        assert await store.outbox.dead_letters() == []
    finally:
        await store.close()
