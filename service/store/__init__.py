"""The embedded store: one SQLite file, one repository per concern.

`db` owns the connection and its thread; `feeds` holds feed state and seen items, `buslog`
the embedded transport's messages and offsets, `outbox` pending deliveries, the delivery log
and dead letters, `stories` the story grouping's decisions, `held` alerts held for digests and
the digests sent, `health` feed health and its pending alerts, `slack_messages` the first
Slack message of each story (app mode's threads and edits). `Store` opens the file and
hands out the repositories.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from service.store import buslog, feeds, health, held, outbox, slack_messages, stories
from service.store.buslog import BusLog
from service.store.db import Database
from service.store.feeds import FeedState, FeedStates
from service.store.health import FeedHealthStore, HealthAlertRow
from service.store.held import HeldAlert, HeldAlerts, HeldWindow
from service.store.outbox import Outbox, OutboxRow
from service.store.slack_messages import SlackMessage, SlackMessages
from service.store.stories import StoryItems, StoryRow

__all__ = [
    "BusLog",
    "FeedHealthStore",
    "FeedState",
    "FeedStates",
    "HealthAlertRow",
    "HeldAlert",
    "HeldAlerts",
    "HeldWindow",
    "Outbox",
    "OutboxRow",
    "SlackMessage",
    "SlackMessages",
    "Store",
    "StoryItems",
    "StoryRow",
]


class Store:
    """The SQLite file; open with `await Store.open(path)`, then `close()`."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._db = Database(
            path,
            (
                feeds.SCHEMA,
                buslog.SCHEMA,
                outbox.SCHEMA,
                stories.SCHEMA,
                held.SCHEMA,
                health.SCHEMA,
                slack_messages.SCHEMA,
            ),
            clock,
            feeds.ADDED_COLUMNS,
        )
        self.feeds = FeedStates(self._db)
        self.bus = BusLog(self._db)
        self.outbox = Outbox(self._db)
        self.stories = StoryItems(self._db)
        self.held = HeldAlerts(self._db)
        self.health = FeedHealthStore(self._db)
        self.slack_messages = SlackMessages(self._db)

    @classmethod
    async def open(cls, path: Path, clock: Callable[[], float] = time.time) -> Store:
        store = cls(path, clock)
        await store._db.open()
        return store

    async def close(self) -> None:
        await self._db.close()

    async def prune(
        self,
        *,
        seen_before: float,
        consumed_before: float,
        delivered_before: float,
        stories_before: float = 0.0,
    ) -> int:
        """Forget seen items not in any feed since `seen_before`, consumed bus messages, old
        deliveries, and story decisions older than the grouping window."""

        def write(conn: sqlite3.Connection) -> int:
            return (
                FeedStates.prune(conn, seen_before)
                + BusLog.prune(conn, consumed_before)
                + Outbox.prune(conn, delivered_before)
                + StoryItems.prune(conn, stories_before)
                + SlackMessages.prune(conn, stories_before)
                + HeldAlerts.prune(conn, delivered_before)
                + FeedHealthStore.prune(conn, delivered_before)
            )

        return await self._db.transaction(write)
