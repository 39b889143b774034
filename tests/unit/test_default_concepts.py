"""The default concept sets in config/concepts/ and the @names the default watchlists use.

Each file is a YAML mapping of concept name to a list of entries; each entry is one term,
"quoted phrase", trailing-wildcard term or `backquoted` case-sensitive term, written as in a
watchlist query. Every @name in config/newsalert.yaml must be defined by exactly one file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from consumers.matching.parse import parse_query
from consumers.matching.syntax import Term

ROOT = Path(__file__).resolve().parents[2]
CONCEPT_FILES = sorted((ROOT / "config" / "concepts").glob("*.yaml"))
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def load(path: Path) -> dict[str, list[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def test_the_three_default_files_ship() -> None:
    assert {p.name for p in CONCEPT_FILES} >= {"china.yaml", "token_sales.yaml", "fed_easing.yaml"}


@pytest.mark.parametrize("path", CONCEPT_FILES, ids=lambda p: p.name)
def test_every_entry_is_one_term_phrase_or_wildcard(path: Path) -> None:
    for name, entries in load(path).items():
        assert NAME.match(name), f"{path.name}: bad concept name {name!r}"
        assert isinstance(entries, list) and entries, f"{path.name}: {name} is not a list"
        assert len(entries) == len(set(entries)), f"{path.name}: {name} repeats an entry"
        for entry in entries:
            assert isinstance(entry, str), f"{path.name}: {name}: {entry!r} is not a string"
            node = parse_query(entry)
            assert isinstance(node, Term), f"{path.name}: {name}: {entry!r} is not one term"


def test_each_concept_is_defined_once_and_every_reference_resolves() -> None:
    defined: dict[str, str] = {}
    for path in CONCEPT_FILES:
        for name in load(path):
            assert name not in defined, f"{name} in both {defined[name]} and {path.name}"
            defined[name] = path.name
    config = yaml.safe_load((ROOT / "config" / "newsalert.yaml").read_text(encoding="utf-8"))
    used = {m for w in config["watchlists"] for m in re.findall(r"@(\w+)", w["query"])}
    assert used, "the default watchlists use no concept sets"
    assert used <= set(defined), f"undefined: {sorted(used - set(defined))}"
