"""Errors of the query language. Both are config errors: retrying never helps.

Plain `ValueError`s, so the pure core depends on nothing outside the standard library; the
service validates every query while loading its settings and reports these there.
"""

from __future__ import annotations


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed or breaks a limit.

    `message` is one sentence without the position; `column` is 1-based in the query text.
    """

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column

    def __repr__(self) -> str:
        return f"QuerySyntaxError({self.message!r}, column={self.column})"


class WatchlistError(ValueError):
    """A watchlist whose query is invalid; str() names the watchlist and the column."""

    def __init__(self, watchlist: str, column: int, message: str) -> None:
        super().__init__(f"watchlist {watchlist!r}: column {column}: {message}")
        self.watchlist = watchlist
        self.column = column
        self.message = message
