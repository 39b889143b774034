"""Load the config with every check, including those that need the consumers' code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from consumers.matching import QuerySyntaxError, parse_query
from service.settings import Settings, load_settings


def query_problem(query: str, concepts: Mapping[str, Sequence[str]]) -> tuple[int, str] | None:
    """None when the query parses, else the column and the reason."""
    try:
        parse_query(query, concepts=concepts)
    except QuerySyntaxError as exc:
        return exc.column, str(exc)
    return None


def load_config(
    path: Path, environ: Mapping[str, str] | None = None, *, require_feeds: bool = True
) -> Settings:
    """`load_settings` with the watchlist queries parsed too; raises ConfigError.

    `require_feeds=False` for commands that poll nothing (`match`, and a future `stories`).
    """
    return load_settings(path, environ, check_query=query_problem, require_feeds=require_feeds)
