"""The outbox: pending deliveries, the delivery log (delivered rows) and dead letters."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, fields

from service.store.db import Database

SCHEMA = """
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
class OutboxRow:
    alert_id: str
    destination: str
    payload: bytes
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float


_COLUMNS = tuple(f.name for f in fields(OutboxRow))
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM outbox"  # noqa: S608 - constant column names


def _row(r: sqlite3.Row) -> OutboxRow:
    values = {name: r[name] for name in _COLUMNS}
    values["payload"] = bytes(values["payload"])
    return OutboxRow(**values)


class Outbox:
    """Repository of the outbox (the notifier's `Outbox`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(self, rows: Sequence[tuple[str, str, bytes]]) -> int:
        """Add (alert_id, destination, payload) rows; an id already known is ignored. Returns new rows."""

        def write(conn: sqlite3.Connection) -> int:
            return Outbox.insert(conn, rows, "pending", self._db.clock())

        return await self._db.transaction(write)

    @staticmethod
    def insert(
        conn: sqlite3.Connection,
        rows: Sequence[tuple[str, str, bytes]],
        status: str,
        now: float,
        *,
        attempts: int = 0,
        error: str | None = None,
    ) -> int:
        """Add (alert_id, destination, payload) rows in `status` within the caller's transaction
        (the held alerts of a digest are logged here as delivered); known ids are ignored."""
        before = conn.total_changes
        conn.executemany(
            "INSERT OR IGNORE INTO outbox (alert_id, destination, payload, status, attempts, "
            "next_attempt_at, last_error, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
            [(a, d, p, status, attempts, now, error, now, now) for a, d, p in rows],
        )
        return conn.total_changes - before

    async def due(self, destination: str, now: float, limit: int) -> list[OutboxRow]:
        def read(conn: sqlite3.Connection) -> list[OutboxRow]:
            return [
                _row(r)
                for r in conn.execute(
                    _SELECT + " WHERE status = 'pending' AND destination = ? "
                    "AND next_attempt_at <= ? ORDER BY next_attempt_at, created_at, rowid LIMIT ?",
                    (destination, now, limit),
                )
            ]

        return await self._db.transaction(read)

    async def next_due_at(self, destination: str) -> float | None:
        def read(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                "SELECT MIN(next_attempt_at) AS at FROM outbox "
                "WHERE status = 'pending' AND destination = ?",
                (destination,),
            ).fetchone()
            return None if row["at"] is None else float(row["at"])

        return await self._db.transaction(read)

    async def pending_count(self) -> int:
        def read(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending'")
            return int(row.fetchone()["n"])

        return await self._db.transaction(read)

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
                (status, attempts, error, at, self._db.clock(), alert_id),
            )

        await self._db.transaction(write)

    async def dead_letters(self, destination: str | None = None) -> list[OutboxRow]:
        def read(conn: sqlite3.Connection) -> list[OutboxRow]:
            sql = _SELECT + " WHERE status = 'dead'"
            args: tuple[str, ...] = ()
            if destination is not None:
                sql += " AND destination = ?"
                args = (destination,)
            return [_row(r) for r in conn.execute(sql + " ORDER BY created_at", args)]

        return await self._db.transaction(read)

    async def replay(self, alert_ids: Sequence[str] | None = None) -> int:
        """Put dead letters (all, or the given ids) back in the queue with a fresh attempt budget."""

        def write(conn: sqlite3.Connection) -> int:
            now = self._db.clock()
            sql = (
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, "
                "updated_at = ? WHERE status = 'dead'"
            )
            if alert_ids is None:
                return conn.execute(sql, (now, now)).rowcount
            return sum(
                conn.execute(sql + " AND alert_id = ?", (now, now, a)).rowcount for a in alert_ids
            )

        return await self._db.transaction(write)

    @staticmethod
    def prune(conn: sqlite3.Connection, delivered_before: float) -> int:
        """Forget delivered rows older than `delivered_before` (dead letters stay)."""
        return conn.execute(
            "DELETE FROM outbox WHERE status = 'delivered' AND updated_at < ?",
            (delivered_before,),
        ).rowcount
