"""The embedded transport's log: messages per topic and each consumer group's offset."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from service.store.db import Database

SCHEMA = """
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
"""


class BusLog:
    """Repository of bus messages and offsets (what `EmbeddedBus` reads and writes)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def append_messages(self, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            now = self._db.clock()
            conn.executemany(
                "INSERT INTO bus_messages (topic, key, value, created_at) VALUES (?,?,?,?)",
                [(topic, key, value, now) for key, value in items],
            )

        await self._db.transaction(write)

    async def read_messages(
        self, topic: str, group: str, limit: int
    ) -> list[tuple[int, str, bytes]]:
        def read(conn: sqlite3.Connection) -> list[tuple[int, str, bytes]]:
            row = conn.execute(
                "SELECT seq FROM bus_offsets WHERE grp = ? AND topic = ?", (group, topic)
            ).fetchone()
            after = row["seq"] if row else 0
            return [
                (r["seq"], r["key"], bytes(r["value"]))
                for r in conn.execute(
                    "SELECT seq, key, value FROM bus_messages WHERE topic = ? AND seq > ? "
                    "ORDER BY seq LIMIT ?",
                    (topic, after, limit),
                )
            ]

        return await self._db.transaction(read)

    async def commit_offset(self, topic: str, group: str, seq: int) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO bus_offsets (grp, topic, seq) VALUES (?,?,?) "
                "ON CONFLICT (grp, topic) DO UPDATE SET seq = MAX(seq, excluded.seq)",
                (group, topic, seq),
            )

        await self._db.transaction(write)

    async def ensure_offset(self, topic: str, group: str) -> None:
        """A new group starts at the beginning of what the log still holds."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO bus_offsets (grp, topic, seq) VALUES (?,?,0)", (group, topic)
            )

        await self._db.transaction(write)

    async def backlog(self, topic: str, group: str) -> int:
        def read(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT COUNT(*) AS n FROM bus_messages WHERE topic = ? AND seq > "
                "COALESCE((SELECT seq FROM bus_offsets WHERE grp = ? AND topic = ?), 0)",
                (topic, group, topic),
            ).fetchone()
            return int(row["n"])

        return await self._db.transaction(read)

    @staticmethod
    def prune(conn: sqlite3.Connection, consumed_before: float) -> int:
        """Forget messages every group has consumed, once older than `consumed_before`."""
        return conn.execute(
            "DELETE FROM bus_messages WHERE created_at < ? AND seq <= "
            "COALESCE((SELECT MIN(o.seq) FROM bus_offsets o WHERE o.topic = bus_messages.topic), 0)",
            (consumed_before,),
        ).rowcount
