"""Alerts held for a digest (flood control, digest schedules, quiet hours) and digests sent.

A held alert waits in `held_alerts` under its window until the window ends. Sending a digest
ends with one transaction that records it in `digests`, writes its alerts into the outbox as
delivered (the outbox is the delivery log: an id there is never taken in again, so a
redelivered alert is not held a second time) and removes them from `held_alerts`. So a kill at
any moment loses nothing held, and a digest once recorded is never sent again; a kill between
the send and that transaction sends it again on restart with the same id (webhook receivers
drop the repeat by `webhook-id`).

`single_sends` remembers when single alerts were let through, for the flood limit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, fields

from service.store.db import Database
from service.store.outbox import Outbox

SCHEMA = """
CREATE TABLE IF NOT EXISTS held_alerts (
    alert_id TEXT PRIMARY KEY,
    destination TEXT NOT NULL,
    digest_id TEXT NOT NULL,
    window_kind TEXT NOT NULL CHECK (window_kind IN ('flood', 'digest', 'quiet')),
    window_start REAL NOT NULL,
    window_end REAL NOT NULL,
    payload BLOB NOT NULL,
    held_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS held_alerts_due ON held_alerts (destination, window_end);
CREATE INDEX IF NOT EXISTS held_alerts_digest ON held_alerts (digest_id, held_at);
CREATE TABLE IF NOT EXISTS digests (
    digest_id TEXT PRIMARY KEY,
    destination TEXT NOT NULL,
    window_kind TEXT NOT NULL,
    window_start REAL NOT NULL,
    window_end REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('delivered', 'dead')),
    alerts INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    recorded_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS single_sends (
    destination TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    sent_at REAL NOT NULL,
    PRIMARY KEY (destination, alert_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS single_sends_at ON single_sends (destination, sent_at);
"""


@dataclass(frozen=True)
class HeldAlert:
    alert_id: str
    destination: str
    digest_id: str
    window_kind: str
    window_start: float
    window_end: float
    payload: bytes
    held_at: float


@dataclass(frozen=True)
class HeldWindow:
    """One window with alerts waiting in it."""

    digest_id: str
    destination: str
    kind: str
    start: float
    end: float
    alerts: int


_COLUMNS = tuple(f.name for f in fields(HeldAlert))
_INSERT = (
    f"INSERT OR IGNORE INTO held_alerts ({', '.join(_COLUMNS)}) "  # noqa: S608 - constant column names
    f"VALUES ({', '.join('?' * len(_COLUMNS))})"
)


class HeldAlerts:
    """Repository of held alerts, digests and single sends (the digest step's `HeldStore`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def known(self, alert_ids: Sequence[str]) -> set[str]:
        """The ids among `alert_ids` already taken in: held, or in the outbox (sent or not)."""

        def read(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(alert_ids), 400):
                chunk = alert_ids[start : start + 400]
                marks = ",".join("?" * len(chunk))
                for table in ("held_alerts", "outbox"):
                    found.update(
                        r["alert_id"]
                        for r in conn.execute(
                            f"SELECT alert_id FROM {table} WHERE alert_id IN ({marks})",  # noqa: S608 - constant table, placeholders only
                            chunk,
                        )
                    )
            return found

        return await self._db.transaction(read)

    async def recent_sends(self, destination: str, since: float) -> list[float]:
        def read(conn: sqlite3.Connection) -> list[float]:
            return [
                float(r["sent_at"])
                for r in conn.execute(
                    "SELECT sent_at FROM single_sends WHERE destination = ? AND sent_at > ? "
                    "ORDER BY sent_at",
                    (destination, since),
                )
            ]

        return await self._db.transaction(read)

    async def open_flood(self, destination: str, now: float) -> tuple[float, float] | None:
        """The flood window alerts of `destination` are held in, if one is still open."""

        def read(conn: sqlite3.Connection) -> tuple[float, float] | None:
            row = conn.execute(
                "SELECT window_start, window_end FROM held_alerts WHERE destination = ? "
                "AND window_kind = 'flood' AND window_end > ? ORDER BY window_end DESC LIMIT 1",
                (destination, now),
            ).fetchone()
            return None if row is None else (row["window_start"], row["window_end"])

        return await self._db.transaction(read)

    async def admit(
        self,
        singles: Sequence[tuple[str, str, bytes]],
        counted: Sequence[str],
        held: Sequence[HeldAlert],
    ) -> None:
        """In one transaction: singles (alert_id, destination, payload) into the outbox, those
        in `counted` remembered as single sends for the flood limit, the rest held."""
        by_id = {a: d for a, d, _ in singles}

        def write(conn: sqlite3.Connection) -> None:
            now = self._db.clock()
            Outbox.insert(conn, singles, "pending", now)
            conn.executemany(
                "INSERT OR IGNORE INTO single_sends (destination, alert_id, sent_at) VALUES (?,?,?)",
                [(by_id[a], a, now) for a in counted],
            )
            conn.executemany(_INSERT, [tuple(getattr(h, c) for c in _COLUMNS) for h in held])

        await self._db.transaction(write)

    async def windows(self, destination: str | None = None) -> list[HeldWindow]:
        """Windows with held alerts, the soonest due first."""

        def read(conn: sqlite3.Connection) -> list[HeldWindow]:
            sql = (
                "SELECT digest_id, destination, window_kind, window_start, window_end, "
                "COUNT(*) AS n FROM held_alerts"
            )
            args: tuple[str, ...] = ()
            if destination is not None:
                sql += " WHERE destination = ?"
                args = (destination,)
            sql += " GROUP BY digest_id ORDER BY window_end, window_start"
            return [
                HeldWindow(
                    r["digest_id"],
                    r["destination"],
                    r["window_kind"],
                    r["window_start"],
                    r["window_end"],
                    r["n"],
                )
                for r in conn.execute(sql, args)
            ]

        return await self._db.transaction(read)

    async def payloads(self, digest_id: str) -> list[bytes]:
        """The held alerts of one window, in the order they were held."""

        def read(conn: sqlite3.Connection) -> list[bytes]:
            return [
                bytes(r["payload"])
                for r in conn.execute(
                    "SELECT payload FROM held_alerts WHERE digest_id = ? ORDER BY held_at, alert_id",
                    (digest_id,),
                )
            ]

        return await self._db.transaction(read)

    async def record_digest(
        self, window: HeldWindow, status: str, attempts: int, error: str | None
    ) -> int:
        """The digest was sent (or given up on): in one transaction record it, log its alerts in
        the outbox as delivered (or dead), and stop holding them. Returns the alerts it had."""

        def write(conn: sqlite3.Connection) -> int:
            now = self._db.clock()
            rows = conn.execute(
                "SELECT alert_id, destination, payload FROM held_alerts WHERE digest_id = ?",
                (window.digest_id,),
            ).fetchall()
            Outbox.insert(
                conn,
                [(r["alert_id"], r["destination"], bytes(r["payload"])) for r in rows],
                status,
                now,
                attempts=attempts,
                error=error,
            )
            conn.execute(
                "INSERT OR REPLACE INTO digests (digest_id, destination, window_kind, "
                "window_start, window_end, status, alerts, attempts, last_error, recorded_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    window.digest_id,
                    window.destination,
                    window.kind,
                    window.start,
                    window.end,
                    status,
                    len(rows),
                    attempts,
                    error,
                    now,
                ),
            )
            conn.execute("DELETE FROM held_alerts WHERE digest_id = ?", (window.digest_id,))
            return len(rows)

        return await self._db.transaction(write)

    async def release(self, digest_id: str) -> None:
        """A send attempt failed: nothing to release, since one process owns the SQLite file
        (in Kafka mode this lets a partition hand-over proceed)."""

    async def digests_recorded(self, destination: str | None = None) -> list[tuple[str, str, int]]:
        """(digest_id, status, alerts) of every digest recorded, oldest first."""

        def read(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
            sql = "SELECT digest_id, status, alerts FROM digests"
            args: tuple[str, ...] = ()
            if destination is not None:
                sql += " WHERE destination = ?"
                args = (destination,)
            return [
                (r["digest_id"], r["status"], r["alerts"])
                for r in conn.execute(sql + " ORDER BY recorded_at", args)
            ]

        return await self._db.transaction(read)

    async def held_count(self) -> dict[str, int]:
        def read(conn: sqlite3.Connection) -> dict[str, int]:
            return {
                r["destination"]: r["n"]
                for r in conn.execute(
                    "SELECT destination, COUNT(*) AS n FROM held_alerts GROUP BY destination"
                )
            }

        return await self._db.transaction(read)

    @staticmethod
    def prune(conn: sqlite3.Connection, before: float) -> int:
        """Forget single sends and digest records older than `before` (held alerts stay)."""
        return (
            conn.execute("DELETE FROM single_sends WHERE sent_at < ?", (before,)).rowcount
            + conn.execute("DELETE FROM digests WHERE recorded_at < ?", (before,)).rowcount
        )
