"""Concept sets: named lists of terms and phrases that watchlist queries use as `@name`.

`concepts:` in the config is a list whose items are either a file (a path relative to the
config file, holding a mapping of names to lists) or an inline mapping of names to lists.
`resolve_concepts` reads the files and merges everything into one mapping, reporting each
problem (a missing file, a name defined twice, an entry that is not a string) in one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from service.yamlconf import Loc, describe_yaml_error, load_yaml

Problem = tuple[Loc, str]  # where in the config, and what; `where` may name another file


def resolve_concepts(
    value: Any, config_dir: Path, environ: Mapping[str, str]
) -> tuple[dict[str, list[str]], list[str], list[Problem]]:
    """The merged concepts, problems located in concept files (whole lines), and in the config."""
    merged: dict[str, list[str]] = {}
    in_files: list[str] = []
    in_config: list[Problem] = []
    if value is None:
        return merged, in_files, in_config
    if not isinstance(value, list):
        in_config.append(
            (("concepts",), "must be a list of concept files and/or mappings of name: [terms]")
        )
        return merged, in_files, in_config
    for i, item in enumerate(value):
        loc: Loc = ("concepts", i)
        if isinstance(item, str):
            sets, problems = _read_file(config_dir / item, environ)
            in_files.extend(problems)
            where = item
        elif isinstance(item, dict):
            sets, problems = _check_sets(item, str(loc))
            in_config.extend((loc, p) for p in problems)
            where = "the config"
        else:
            in_config.append((loc, "must be a file path or a mapping of name: [terms]"))
            continue
        for name, entries in sets.items():
            if name in merged:
                in_config.append((loc, f"concept '{name}' is defined twice (again in {where})"))
                continue
            merged[name] = entries
    return merged, in_files, in_config


def _read_file(path: Path, environ: Mapping[str, str]) -> tuple[dict[str, list[str]], list[str]]:
    try:
        loaded = load_yaml(path, environ)
    except FileNotFoundError:
        return {}, [f"{path}: concept file not found"]
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return {}, [f"{path}: cannot read concept file: {reason}"]
    except yaml.YAMLError as exc:
        line, col, reason = describe_yaml_error(exc)
        return {}, [f"{path}:{line}:{col}: {reason}"]
    if not isinstance(loaded.data, dict):
        return {}, [f"{path}:1:1: a concept file holds a mapping of name: [terms]"]
    sets, problems = _check_sets(loaded.data, str(path))
    return sets, [f"{path}: {p}" for p in problems]


def _check_sets(data: dict[Any, Any], where: str) -> tuple[dict[str, list[str]], list[str]]:
    sets: dict[str, list[str]] = {}
    problems: list[str] = []
    for name, entries in data.items():
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            problems.append(f"concept name {name!r}: use letters, digits, _ and -")
            continue
        if not isinstance(entries, list) or not entries:
            problems.append(f"concept '{name}': needs a non-empty list of terms and phrases")
            continue
        bad = [e for e in entries if not isinstance(e, str) or not e.strip()]
        if bad:
            problems.append(f"concept '{name}': every entry must be a non-empty string")
            continue
        sets[name] = [e.strip() for e in entries]
    return sets, problems
