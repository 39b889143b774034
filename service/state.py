"""The embedded store: one SQLite file holding feed state, seen items, the bus log and the outbox.

All access goes through one worker thread that owns the connection, so the event loop never
blocks on disk and SQLite never sees two threads. WAL with synchronous=FULL: a killed process
(or a power cut) loses no committed transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from service.errors import StoreError

T = TypeVar("T")

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
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS seen_items (
    feed TEXT NOT NULL,
    item_id TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    PRIMARY KEY (feed, item_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_items_last_seen ON seen_items (last_seen);
CREATE TABLE IF NOT EXISTS bus_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS bus_messages_topic ON bus_messages (topic, seq);
CREATE TABLE IF NOT EXISTS bus_offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (grp, topic)
);
CREATE TABLE IF NOT EXISTS outbox (
    alert_id TEXT PRIMARY KEY,
    destination TEXT NOT NULL,
    payload BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, destination, next_attempt_at);
"""


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


@dataclass(frozen=True)
class OutboxRow:
    alert_id: str
    destination: str
    payload: bytes
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float


def _feed_state(row: tuple[Any, ...]) -> FeedState:
    return FeedState(
        feed=row[0],
        url=row[1],
        etag=row[2],
        last_modified=row[3],
        initialised=bool(row[4]),
        last_polled_at=row[5],
        last_success_at=row[6],
        next_poll_at=row[7],
        consecutive_failures=row[8],
        last_error=row[9],
    )


class Store:
    """Async facade over the SQLite file; open with `await Store.open(path)`, then `close()`."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsalert-sqlite")
        self._conn: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path, clock: Callable[[], float] = time.time) -> Store:
        store = cls(path, clock)
        await store._run(store._connect)
        return store

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(SCHEMA)
        self._conn = conn

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            # Transactions roll back on error, so the file stays consistent; say what happened.
            raise StoreError(f"the store {self.path} cannot be used: {exc}") from None
        except OSError as exc:
            raise StoreError(
                f"the store {self.path} cannot be used: {exc.strerror or exc}"
            ) from None

    async def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def work() -> T:
            conn = self._conn
            assert conn is not None, "store is closed"
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self._run(work)

    # --- feed state and seen items -------------------------------------------------------

    async def feed_state(self, feed: str, url: str) -> FeedState:
        def read(conn: sqlite3.Connection) -> FeedState:
            row = conn.execute(
                "SELECT feed, url, etag, last_modified, initialised, last_polled_at, "
                "last_success_at, next_poll_at, consecutive_failures, last_error "
                "FROM feed_state WHERE feed = ?",
                (feed,),
            ).fetchone()
            if row is None:
                return FeedState(feed=feed, url=url)
            state = _feed_state(row)
            if state.url != url:
                # The operator pointed the feed elsewhere: validators of the old URL do not apply.
                return FeedState(feed=feed, url=url, initialised=state.initialised)
            return state

        return await self._transaction(read)

    async def all_feed_states(self) -> list[FeedState]:
        def read(conn: sqlite3.Connection) -> list[FeedState]:
            rows = conn.execute(
                "SELECT feed, url, etag, last_modified, initialised, last_polled_at, "
                "last_success_at, next_poll_at, consecutive_failures, last_error "
                "FROM feed_state ORDER BY feed"
            ).fetchall()
            return [_feed_state(r) for r in rows]

        return await self._transaction(read)

    async def save_feed_state(self, state: FeedState, seen: Iterable[str] = ()) -> None:
        """Record a poll's outcome and the items it saw, in one transaction.

        Without `seen` (not modified, or failed), the items of the last successful read count
        as seen again now: an item is forgotten only once it has left its feed.
        """
        seen_ids = list(seen)

        def write(conn: sqlite3.Connection) -> None:
            now = self._clock()
            conn.execute(
                "INSERT OR REPLACE INTO feed_state VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    state.feed,
                    state.url,
                    state.etag,
                    state.last_modified,
                    int(state.initialised),
                    state.last_polled_at,
                    state.last_success_at,
                    state.next_poll_at,
                    state.consecutive_failures,
                    state.last_error,
                ),
            )
            if not seen_ids:
                # 304 or a failure: the items of the last successful read (which share its
                # time) are still in the feed as far as we know, so retention must not expire them.
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

        await self._transaction(write)

    async def unseen(self, feed: str, item_ids: Sequence[str]) -> set[str]:
        """The ids among `item_ids` that this feed has never seen."""

        def read(conn: sqlite3.Connection) -> set[str]:
            seen: set[str] = set()
            for start in range(0, len(item_ids), 500):
                chunk = item_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                seen.update(
                    r[0]
                    for r in conn.execute(
                        f"SELECT item_id FROM seen_items WHERE feed = ? AND item_id IN ({marks})",  # noqa: S608 - only placeholders are interpolated
                        (feed, *chunk),
                    )
                )
            return set(item_ids) - seen

        return await self._transaction(read)

    async def prune(
        self, *, seen_before: float, consumed_before: float, delivered_before: float
    ) -> int:
        """Forget seen items not in any feed since `seen_before`, consumed bus messages, old deliveries."""

        def write(conn: sqlite3.Connection) -> int:
            removed = conn.execute(
                "DELETE FROM seen_items WHERE last_seen < ?", (seen_before,)
            ).rowcount
            removed += conn.execute(
                "DELETE FROM bus_messages WHERE created_at < ? AND seq <= "
                "COALESCE((SELECT MIN(o.seq) FROM bus_offsets o WHERE o.topic = bus_messages.topic), 0)",
                (consumed_before,),
            ).rowcount
            removed += conn.execute(
                "DELETE FROM outbox WHERE status = 'delivered' AND updated_at < ?",
                (delivered_before,),
            ).rowcount
            return removed

        return await self._transaction(write)

    # --- bus log (embedded transport) ----------------------------------------------------

    async def append_messages(self, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            now = self._clock()
            conn.executemany(
                "INSERT INTO bus_messages (topic, key, value, created_at) VALUES (?,?,?,?)",
                [(topic, key, value, now) for key, value in items],
            )

        await self._transaction(write)

    async def read_messages(
        self, topic: str, group: str, limit: int
    ) -> list[tuple[int, str, bytes]]:
        def read(conn: sqlite3.Connection) -> list[tuple[int, str, bytes]]:
            row = conn.execute(
                "SELECT seq FROM bus_offsets WHERE grp = ? AND topic = ?", (group, topic)
            ).fetchone()
            after = row[0] if row else 0
            return [
                (r[0], r[1], bytes(r[2]))
                for r in conn.execute(
                    "SELECT seq, key, value FROM bus_messages WHERE topic = ? AND seq > ? "
                    "ORDER BY seq LIMIT ?",
                    (topic, after, limit),
                )
            ]

        return await self._transaction(read)

    async def commit_offset(self, topic: str, group: str, seq: int) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO bus_offsets (grp, topic, seq) VALUES (?,?,?) "
                "ON CONFLICT (grp, topic) DO UPDATE SET seq = MAX(seq, excluded.seq)",
                (group, topic, seq),
            )

        await self._transaction(write)

    async def ensure_offset(self, topic: str, group: str) -> None:
        """A new group starts at the beginning of what the log still holds."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO bus_offsets (grp, topic, seq) VALUES (?,?,0)", (group, topic)
            )

        await self._transaction(write)

    async def backlog(self, topic: str, group: str) -> int:
        def read(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT COUNT(*) FROM bus_messages WHERE topic = ? AND seq > "
                "COALESCE((SELECT seq FROM bus_offsets WHERE grp = ? AND topic = ?), 0)",
                (topic, group, topic),
            ).fetchone()
            return int(row[0])

        return await self._transaction(read)

    # --- outbox: pending deliveries, the delivery log, dead letters ----------------------

    async def enqueue(self, rows: Sequence[tuple[str, str, bytes]]) -> int:
        """Add (alert_id, destination, payload) rows; an id already known is ignored. Returns new rows."""

        def write(conn: sqlite3.Connection) -> int:
            now = self._clock()
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO outbox (alert_id, destination, payload, status, attempts, "
                "next_attempt_at, created_at, updated_at) VALUES (?,?,?,'pending',0,?,?,?)",
                [(a, d, p, now, now, now) for a, d, p in rows],
            )
            return conn.total_changes - before

        return await self._transaction(write)

    async def due(self, destination: str, now: float, limit: int) -> list[OutboxRow]:
        def read(conn: sqlite3.Connection) -> list[OutboxRow]:
            return [
                OutboxRow(r[0], r[1], bytes(r[2]), *r[3:])
                for r in conn.execute(
                    "SELECT alert_id, destination, payload, status, attempts, next_attempt_at, "
                    "last_error, created_at FROM outbox WHERE status = 'pending' AND destination = ? "
                    "AND next_attempt_at <= ? ORDER BY next_attempt_at, created_at LIMIT ?",
                    (destination, now, limit),
                )
            ]

        return await self._transaction(read)

    async def next_due_at(self, destination: str) -> float | None:
        def read(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending' AND destination = ?",
                (destination,),
            ).fetchone()
            return None if row[0] is None else float(row[0])

        return await self._transaction(read)

    async def pending_count(self) -> int:
        def read(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
            )

        return await self._transaction(read)

    async def mark_delivered(self, alert_id: str, attempts: int) -> None:
        await self._set_outcome(alert_id, "delivered", attempts, None, 0.0)

    async def mark_retry(self, alert_id: str, attempts: int, error: str, at: float) -> None:
        await self._set_outcome(alert_id, "pending", attempts, error, at)

    async def mark_dead(self, alert_id: str, attempts: int, error: str) -> None:
        await self._set_outcome(alert_id, "dead", attempts, error, 0.0)

    async def _set_outcome(
        self, alert_id: str, status: str, attempts: int, error: str | None, at: float
    ) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE outbox SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?, "
                "updated_at = ? WHERE alert_id = ?",
                (status, attempts, error, at, self._clock(), alert_id),
            )

        await self._transaction(write)

    async def dead_letters(self, destination: str | None = None) -> list[OutboxRow]:
        def read(conn: sqlite3.Connection) -> list[OutboxRow]:
            sql = (
                "SELECT alert_id, destination, payload, status, attempts, next_attempt_at, "
                "last_error, created_at FROM outbox WHERE status = 'dead'"
            )
            args: tuple[str, ...] = ()
            if destination is not None:
                sql += " AND destination = ?"
                args = (destination,)
            return [
                OutboxRow(r[0], r[1], bytes(r[2]), *r[3:])
                for r in conn.execute(sql + " ORDER BY created_at", args)
            ]

        return await self._transaction(read)

    async def replay(self, alert_ids: Sequence[str] | None = None) -> int:
        """Put dead letters (all, or the given ids) back in the queue with a fresh attempt budget."""

        def write(conn: sqlite3.Connection) -> int:
            now = self._clock()
            sql = (
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, "
                "updated_at = ? WHERE status = 'dead'"
            )
            if alert_ids is None:
                return conn.execute(sql, (now, now)).rowcount
            return sum(
                conn.execute(sql + " AND alert_id = ?", (now, now, a)).rowcount for a in alert_ids
            )

        return await self._transaction(write)
