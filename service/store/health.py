"""Feed health (per feed, and whether most feeds are failing at once) and the health alerts
waiting to be delivered. A transition and its alerts are written in one transaction, so a
restart neither repeats nor loses one."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from service.feed_health import FeedHealth, Storm
from service.store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_health (
    feed TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failing', 'stale')),
    failing_since REAL,
    failures INTEGER NOT NULL,
    last_new_at REAL
);
CREATE TABLE IF NOT EXISTS feed_health_storm (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    since REAL
);
CREATE TABLE IF NOT EXISTS health_alerts (
    alert_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    payload BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (alert_id, destination)
);
"""


@dataclass(frozen=True)
class HealthAlertRow:
    alert_id: str
    destination: str
    payload: bytes
    attempts: int


class FeedHealthStore:
    """Repository of feed health and pending health alerts."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self) -> tuple[dict[str, FeedHealth], Storm]:
        def read(conn: sqlite3.Connection) -> tuple[dict[str, FeedHealth], Storm]:
            feeds = {
                r["feed"]: FeedHealth(
                    r["feed"], r["status"], r["failing_since"], r["failures"], r["last_new_at"]
                )
                for r in conn.execute(
                    "SELECT feed, status, failing_since, failures, last_new_at FROM feed_health"
                )
            }
            row = conn.execute("SELECT since FROM feed_health_storm WHERE id = 1").fetchone()
            return feeds, Storm(None if row is None else row["since"])

        return await self._db.transaction(read)

    async def record(
        self,
        health: FeedHealth,
        storm: Storm,
        alerts: Sequence[tuple[str, bytes]],
        destinations: Sequence[str],
    ) -> None:
        """Save one feed's health, the storm flag, and queue (alert_id, payload) per destination."""

        def write(conn: sqlite3.Connection) -> None:
            now = self._db.clock()
            conn.execute(
                "INSERT OR REPLACE INTO feed_health (feed, status, failing_since, failures, "
                "last_new_at) VALUES (?,?,?,?,?)",
                (
                    health.feed,
                    health.status,
                    health.failing_since,
                    health.failures,
                    health.last_new_at,
                ),
            )
            conn.execute(
                "INSERT OR REPLACE INTO feed_health_storm (id, since) VALUES (1, ?)",
                (storm.since,),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO health_alerts (alert_id, destination, payload, status, "
                "attempts, next_attempt_at, created_at) VALUES (?,?,?,'pending',0,?,?)",
                [(a, d, p, now, now) for a, p in alerts for d in destinations],
            )

        await self._db.transaction(write)

    async def due(self, destination: str, now: float) -> list[HealthAlertRow]:
        def read(conn: sqlite3.Connection) -> list[HealthAlertRow]:
            return [
                HealthAlertRow(r["alert_id"], r["destination"], bytes(r["payload"]), r["attempts"])
                for r in conn.execute(
                    "SELECT alert_id, destination, payload, attempts FROM health_alerts "
                    "WHERE status = 'pending' AND destination = ? AND next_attempt_at <= ? "
                    "ORDER BY created_at, alert_id",
                    (destination, now),
                )
            ]

        return await self._db.transaction(read)

    async def mark(
        self,
        alert_id: str,
        destination: str,
        status: str,
        attempts: int,
        error: str | None = None,
        at: float = 0.0,
    ) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE health_alerts SET status = ?, attempts = ?, last_error = ?, "
                "next_attempt_at = ? WHERE alert_id = ? AND destination = ?",
                (status, attempts, error, at, alert_id, destination),
            )

        await self._db.transaction(write)

    @staticmethod
    def prune(conn: sqlite3.Connection, before: float) -> int:
        return conn.execute(
            "DELETE FROM health_alerts WHERE status != 'pending' AND created_at < ?", (before,)
        ).rowcount
