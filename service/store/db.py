"""One SQLite file for the embedded mode, reached through one worker thread.

The thread owns the connection, so the event loop never blocks on disk and SQLite never sees
two threads. WAL with synchronous=FULL: a killed process (or a power cut) loses no committed
transaction. Rows come back as `sqlite3.Row`, read by column name.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from service.errors import StoreError

T = TypeVar("T")


class Database:
    """The connection and its thread; repositories run their transactions through it."""

    def __init__(
        self,
        path: Path,
        schema: Sequence[str],
        clock: Callable[[], float],
        added_columns: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        self.path = path
        self.clock = clock
        self._schema = "\n".join(schema)
        self._added_columns = tuple(added_columns)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsalert-sqlite")
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._run(self._connect)

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(self._schema)
        for table, column, kind in self._added_columns:
            # A file created before the column existed gets it; CREATE TABLE covers new files.
            present = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
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

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one immediate transaction on the store's thread."""

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
