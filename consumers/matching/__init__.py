"""Watchlist query language and compiled matcher (pure, no I/O)."""

from consumers.matching.errors import QuerySyntaxError, WatchlistError
from consumers.matching.matcher import Document, Hit, Matcher, compile_watchlists
from consumers.matching.query import Node, parse_query

__all__ = [
    "Document",
    "Hit",
    "Matcher",
    "Node",
    "QuerySyntaxError",
    "WatchlistError",
    "compile_watchlists",
    "parse_query",
]
