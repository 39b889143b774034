"""Story decisions of the embedded notifier: which article of which destination is in which story."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from service.store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS story_items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    destination TEXT NOT NULL,
    article_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    feed TEXT NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    link TEXT NOT NULL,
    at TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    UNIQUE (destination, article_id)
);
CREATE INDEX IF NOT EXISTS story_items_recorded ON story_items (recorded_at);
"""


@dataclass(frozen=True)
class StoryRow:
    destination: str
    article_id: str
    story_id: str
    feed: str
    title: str
    summary: str
    link: str
    at: datetime


class StoryItems:
    """Repository of story decisions, kept for the grouping window."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, row: StoryRow) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO story_items (destination, article_id, story_id, feed, "
                "title, summary, link, at, recorded_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    row.destination,
                    row.article_id,
                    row.story_id,
                    row.feed,
                    row.title,
                    row.summary,
                    row.link,
                    row.at.isoformat(),
                    self._db.clock(),
                ),
            )

        await self._db.transaction(write)

    async def since(self, recorded_after: float) -> list[StoryRow]:
        """Decisions recorded after `recorded_after`, in the order they were made."""

        def read(conn: sqlite3.Connection) -> list[StoryRow]:
            return [
                StoryRow(
                    destination=r["destination"],
                    article_id=r["article_id"],
                    story_id=r["story_id"],
                    feed=r["feed"],
                    title=r["title"],
                    summary=r["summary"],
                    link=r["link"],
                    at=datetime.fromisoformat(r["at"]),
                )
                for r in conn.execute(
                    "SELECT * FROM story_items WHERE recorded_at > ? ORDER BY seq",
                    (recorded_after,),
                )
            ]

        return await self._db.transaction(read)

    @staticmethod
    def prune(conn: sqlite3.Connection, recorded_before: float) -> int:
        return conn.execute(
            "DELETE FROM story_items WHERE recorded_at < ?", (recorded_before,)
        ).rowcount
