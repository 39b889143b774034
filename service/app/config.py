"""Load the config with every check, including those that need the consumers' code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

from consumers.gc_policy import collector_paused, compile_matcher, freeze_if_large
from consumers.matching import Matcher, Node, QuerySyntaxError, parse_query
from service.settings import Settings, load_settings


class QueryCheck:
    """The config check of each watchlist query, keeping the trees it parsed (by query text),
    so that the matcher is compiled from them rather than from the text a second time."""

    def __init__(self) -> None:
        self.trees: dict[str, Node] = {}

    def __call__(self, query: str, concepts: Mapping[str, Sequence[str]]) -> tuple[int, str] | None:
        """None when the query parses, else the column and the reason."""
        try:
            self.trees[query] = parse_query(query, concepts=concepts)
        except QuerySyntaxError as exc:
            return exc.column, str(exc)
        return None


def load_config(
    path: Path, environ: Mapping[str, str] | None = None, *, require_feeds: bool = True
) -> Settings:
    """`load_settings` with the watchlist queries parsed too; raises ConfigError.

    The parsed queries stay with the settings until `compile_rules` takes them.
    `require_feeds=False` for commands that poll nothing (`match`, and a future `stories`).
    """
    check = QueryCheck()
    # The settings and parse trees of a large config are millions of small objects, no cycles.
    with collector_paused():
        settings = load_settings(path, environ, check_query=check, require_feeds=require_feeds)
        freeze_if_large(len(settings.watchlists))
    settings.keep_parsed_queries(check.trees)
    return settings


def parsed_queries(settings: Settings) -> Mapping[str, Node]:
    """The trees `load_config` parsed, taken from `settings` (empty when taken already)."""
    # Only `load_config` puts trees there, all of them Nodes; service/ cannot name the type.
    return cast(Mapping[str, Node], settings.take_parsed_queries())


def compile_rules(settings: Settings, trees: Mapping[str, Node] | None = None) -> Matcher:
    """The matcher of the config's watchlists, from the trees the check parsed where it can."""
    trees = parsed_queries(settings) if trees is None else trees
    queries = [(w.name, w.query) for w in settings.watchlists]
    return compile_matcher(queries, settings.concepts, parsed=trees)
