"""Watchlist query language and compiled matcher (pure, no I/O)."""

from consumers.matching.errors import QuerySyntaxError, WatchlistError
from consumers.matching.hits import Document, Hit
from consumers.matching.matcher import Matcher, compile_watchlists
from consumers.matching.naive import NaiveMatcher, compile_naive
from consumers.matching.query import Node, parse_query

__all__ = [
    "Document",
    "Hit",
    "Matcher",
    "NaiveMatcher",
    "Node",
    "QuerySyntaxError",
    "WatchlistError",
    "compile_naive",
    "compile_watchlists",
    "parse_query",
]
