"""Feed state (validators, schedule, failures) and the items each feed has shown."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import astuple, dataclass, fields

from service.store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_state (
    feed TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    initialised INTEGER NOT NULL DEFAULT 0,
    last_polled_at REAL,
    last_success_at REAL,
    next_poll_at REAL NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    body_hash TEXT
);
CREATE TABLE IF NOT EXISTS seen_items (
    feed TEXT NOT NULL,
    item_id TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    PRIMARY KEY (feed, item_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_items_last_seen ON seen_items (last_seen);
"""
# Columns added after a store file may already have been created: (table, column, type).
ADDED_COLUMNS = (("feed_state", "body_hash", "TEXT"),)


@dataclass(frozen=True)
class FeedState:
    feed: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    initialised: bool = False
    last_polled_at: float | None = None
    last_success_at: float | None = None
    next_poll_at: float = 0.0
    consecutive_failures: int = 0
    last_error: str | None = None
    # Digest of the last body read in full (service/poller.py `body_digest`): the same body
    # again is not parsed. Saved with the items it held, so the two never disagree.
    body_hash: str | None = None


# The dataclass's fields are the table's columns, in one place.
_COLUMNS = tuple(f.name for f in fields(FeedState))
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM feed_state"  # noqa: S608 - constant column names
_UPSERT = (
    f"INSERT OR REPLACE INTO feed_state ({', '.join(_COLUMNS)}) "  # noqa: S608 - constant column names
    f"VALUES ({', '.join('?' * len(_COLUMNS))})"
)


def _feed_state(row: sqlite3.Row) -> FeedState:
    values = {name: row[name] for name in _COLUMNS}
    values["initialised"] = bool(values["initialised"])
    return FeedState(**values)


class FeedStates:
    """Repository of feed state and seen items (the poller's `FeedStateStore`).

    Thousands of feeds polled every few seconds mean hundreds of small writes a second, each
    a commit (and an fsync) on the store's one thread. Writes made while a commit is under way
    therefore join the next one (group commit): `save_feed_state` still returns only once its
    write is committed. The states this process wrote or read are kept in memory (one per
    configured feed), as it is the only writer of the file, so a poll does not read its
    feed's state back from disk.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._states: dict[str, FeedState] = {}
        self._queue: list[tuple[FeedState, list[str], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def feed_state(self, feed: str, url: str) -> FeedState:
        state = self._states.get(feed)
        if state is None:

            def read(conn: sqlite3.Connection) -> FeedState | None:
                row = conn.execute(_SELECT + " WHERE feed = ?", (feed,)).fetchone()
                return None if row is None else _feed_state(row)

            state = await self._db.transaction(read)
            if state is None:
                return FeedState(feed=feed, url=url)
            self._states.setdefault(feed, state)
        if state.url != url:
            # The operator pointed the feed elsewhere: validators of the old URL do not apply.
            return FeedState(feed=feed, url=url, initialised=state.initialised)
        return state

    async def all_feed_states(self) -> list[FeedState]:
        def read(conn: sqlite3.Connection) -> list[FeedState]:
            return [_feed_state(r) for r in conn.execute(_SELECT + " ORDER BY feed")]

        return await self._db.transaction(read)

    async def save_feed_state(self, state: FeedState, seen: Iterable[str] = ()) -> None:
        """Record a poll's outcome and the items it saw, in one transaction.

        Without `seen` (not modified, or failed), the items of the last successful read count
        as seen again now: an item is forgotten only once it has left its feed.
        """
        done = asyncio.get_running_loop().create_future()
        self._queue.append((state, list(seen), done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="feed-state-commit")
        await done

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            writes = [(state, seen_ids) for state, seen_ids, _ in batch]
            try:
                await self._db.transaction(functools.partial(_write_all, writes, self._db.clock))
            except asyncio.CancelledError:
                for *_, done in batch:
                    done.cancel()
                raise
            except Exception as exc:
                for *_, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for state, _, done in batch:
                self._states[state.feed] = state
                if not done.done():
                    done.set_result(None)

    async def unseen(self, feed: str, item_ids: Sequence[str]) -> set[str]:
        """The ids among `item_ids` that this feed has never seen."""

        def read(conn: sqlite3.Connection) -> set[str]:
            seen: set[str] = set()
            for start in range(0, len(item_ids), 500):
                chunk = item_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                seen.update(
                    r["item_id"]
                    for r in conn.execute(
                        f"SELECT item_id FROM seen_items WHERE feed = ? AND item_id IN ({marks})",  # noqa: S608 - only placeholders are interpolated
                        (feed, *chunk),
                    )
                )
            return set(item_ids) - seen

        return await self._db.transaction(read)

    @staticmethod
    def prune(conn: sqlite3.Connection, seen_before: float) -> int:
        """Forget items that have not been in their feed since `seen_before`."""
        return conn.execute("DELETE FROM seen_items WHERE last_seen < ?", (seen_before,)).rowcount


def _write_all(
    writes: list[tuple[FeedState, list[str]]], clock: Callable[[], float], conn: sqlite3.Connection
) -> None:
    now = clock()
    for state, seen_ids in writes:
        _write(conn, state, seen_ids, now)


def _write(conn: sqlite3.Connection, state: FeedState, seen_ids: list[str], now: float) -> None:
    row = astuple(state)
    conn.execute(_UPSERT, (*row[:4], int(state.initialised), *row[5:]))
    if not seen_ids:
        # 304 or a failure: the items of the last successful read (which share its time) are
        # still in the feed as far as we know, so retention must not expire them.
        conn.execute(
            "UPDATE seen_items SET last_seen = ? WHERE feed = ? AND last_seen = "
            "(SELECT MAX(last_seen) FROM seen_items WHERE feed = ?)",
            (now, state.feed, state.feed),
        )
    conn.executemany(
        "INSERT INTO seen_items (feed, item_id, first_seen, last_seen) VALUES (?,?,?,?) "
        "ON CONFLICT (feed, item_id) DO UPDATE SET last_seen = excluded.last_seen",
        [(state.feed, item, now, now) for item in seen_ids],
    )
