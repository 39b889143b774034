"""Slack app mode's first messages: where each story's first message went, per destination.

A later copy of a story replies in that message's thread or edits it, so the channel id Slack
returned, the message's `ts` and the blocks it was posted with are kept here, in the same file
as the story decisions, and survive a restart. Rows live as long as the grouping window.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from service.store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS slack_messages (
    destination TEXT NOT NULL,
    story_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    payload TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (destination, story_id)
);
CREATE INDEX IF NOT EXISTS slack_messages_recorded ON slack_messages (recorded_at);
"""


@dataclass(frozen=True)
class SlackMessage:
    """A story's first message: the channel id Slack answered with, its ts, and its payload
    (JSON of `text` and `blocks`, which an edit posts again with the added sources)."""

    channel: str
    ts: str
    payload: str


class SlackMessages:
    """Repository of first messages, keyed by destination and story."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, destination: str, story_id: str) -> SlackMessage | None:
        def read(conn: sqlite3.Connection) -> SlackMessage | None:
            row = conn.execute(
                "SELECT channel, ts, payload FROM slack_messages "
                "WHERE destination = ? AND story_id = ?",
                (destination, story_id),
            ).fetchone()
            return None if row is None else SlackMessage(row["channel"], row["ts"], row["payload"])

        return await self._db.transaction(read)

    async def put(self, destination: str, story_id: str, message: SlackMessage) -> None:
        """Keep the first message; a repeated first post (a redelivery) keeps the newest."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO slack_messages "
                "(destination, story_id, channel, ts, payload, recorded_at) VALUES (?,?,?,?,?,?)",
                (
                    destination,
                    story_id,
                    message.channel,
                    message.ts,
                    message.payload,
                    self._db.clock(),
                ),
            )

        await self._db.transaction(write)

    @staticmethod
    def prune(conn: sqlite3.Connection, recorded_before: float) -> int:
        return conn.execute(
            "DELETE FROM slack_messages WHERE recorded_at < ?", (recorded_before,)
        ).rowcount
