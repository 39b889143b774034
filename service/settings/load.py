"""Loading the config: YAML, then `${VAR}` expansion, then NEWSALERT_* overrides, then checks.

`load_settings` reports every problem at once, one line each with file, line, column and field,
and never echoes a secret value (destination URLs and signing secrets are `SecretStr`).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from service.errors import ConfigError
from service.settings.concepts import resolve_concepts
from service.settings.model import ENVIRON, Settings
from service.yamlconf import LoadedYaml, Loc, describe_yaml_error, load_yaml

DEFAULT_CONFIG = Path("config/newsalert.yaml")


def resolve_config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """`-c`, then $NEWSALERT_CONFIG, then config/newsalert.yaml."""
    if cli_value:
        return Path(cli_value)
    if environ.get("NEWSALERT_CONFIG"):
        return Path(environ["NEWSALERT_CONFIG"])
    return DEFAULT_CONFIG


# Checks a watchlist query against the concepts: None when it parses, else (1-based column,
# reason). The parser lives in consumers/, which service/ must not import, so the composition
# root passes it in.
QueryCheck = Callable[[str, Mapping[str, Sequence[str]]], tuple[int, str] | None]


def load_settings(
    path: Path,
    environ: Mapping[str, str] | None = None,
    *,
    check_query: QueryCheck | None = None,
    require_feeds: bool = True,
) -> Settings:
    """Read, expand, validate and cross-check the config; raise ConfigError listing every problem.

    `require_feeds=False` is for commands that poll nothing (`match`): a config without
    `feeds:` is then valid.
    """
    env = os.environ if environ is None else environ
    where = str(path)
    loaded = read_config(path, env)
    problems = [
        f"{where}:{line}:{col}: {_dotted(loc)}: {msg}" for loc, (line, col), msg in loaded.problems
    ]
    concepts, file_problems, concept_problems = resolve_concepts(
        loaded.data.get("concepts"), path.parent, env
    )
    problems.extend(file_problems)
    problems.extend(
        f"{_position(where, loaded.positions, loc)}{_dotted(loc)}: {msg}"
        for loc, msg in concept_problems
    )
    data = {**loaded.data, "concepts": concepts}
    settings: Settings | None = None
    try:
        settings = build_settings(data, env)
    except SettingsError as exc:
        # A NEWSALERT_* variable holding a whole section that is not valid JSON.
        field = re.search(r'field "([^"]+)"', str(exc))
        name = f"NEWSALERT_{field.group(1).upper()}" if field else "a NEWSALERT_* variable"
        problems.append(
            f"{where}: environment variable {name}: not valid JSON for a whole section "
            f"({exc.__cause__ or exc}); set single keys instead, e.g. {name}__KEY=value"
        )
    except ValidationError as exc:
        # A value left empty by a missing ${VAR} is already reported as such: say it once.
        unset = {loc for loc, _, _ in loaded.problems}
        problems.extend(
            line
            for loc, line in _describe_validation(exc, where, loaded.positions, loaded.data, env)
            if not any(u[: len(loc)] == loc for u in unset)
        )
    problems.extend(cross_check(loaded, where, check_query, concepts, require_feeds=require_feeds))
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    return settings


def read_config(path: Path, environ: Mapping[str, str]) -> LoadedYaml:
    """The file's data, a mapping; raise ConfigError when it cannot be read or is not one."""
    where = str(path)
    try:
        loaded = load_yaml(path, environ)
    except FileNotFoundError:
        raise ConfigError(
            [f"{where}: config file not found (pass -c FILE or set NEWSALERT_CONFIG)"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([f"{where}: cannot read config file: {reason}"]) from None
    except yaml.YAMLError as exc:
        line, col, reason = describe_yaml_error(exc)
        raise ConfigError([f"{where}:{line}:{col}: {reason}"]) from None

    if loaded.data is None:
        raise ConfigError(
            [
                f"{where}: the config file is empty: it needs at least feeds, watchlists "
                "and destinations (see config/newsalert.yaml)"
            ]
        )
    if not isinstance(loaded.data, dict):
        raise ConfigError(
            [
                f"{where}:1:1: the top level must be a mapping of keys such as feeds:, "
                "watchlists:, destinations:"
            ]
        )
    return loaded


def build_settings(data: dict[str, Any], environ: Mapping[str, str]) -> Settings:
    """The pydantic models of `data`, with NEWSALERT_* from `environ` over it."""
    token = ENVIRON.set(environ)
    try:
        return Settings(**data)
    finally:
        ENVIRON.reset(token)


def cross_check(
    loaded: LoadedYaml,
    where: str,
    check_query: QueryCheck | None,
    concepts: Mapping[str, Sequence[str]],
    *,
    require_feeds: bool = True,
) -> list[str]:
    """Rules across entries, checked on the raw data so they are reported with the type errors."""

    data: dict[str, Any] = loaded.data
    problems: list[str] = []

    def report(loc: Loc, msg: str) -> None:
        problems.append(f"{_position(where, loaded.positions, loc)}{_dotted(loc)}: {msg}")

    def entries(section: str) -> list[tuple[int, dict[str, Any]]]:
        value = data.get(section)
        if not isinstance(value, list):
            return []
        return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]

    for section in ("feeds", "watchlists", "destinations"):
        seen: set[str] = set()
        for i, item in entries(section):
            name = item.get("name")
            if isinstance(name, str) and name in seen:
                report((section, i, "name"), f"duplicate name '{name}': names must be unique")
            seen.add(str(name))
    dest_names = {str(d.get("name")) for _, d in entries("destinations")}
    for i, wl in entries("watchlists"):
        name = wl.get("name")
        targets = wl.get("destinations")
        for j, dest in enumerate(targets if isinstance(targets, list) else []):
            if isinstance(dest, str) and dest not in dest_names:
                hint = _suggest(dest, dest_names)
                report(
                    ("watchlists", i, "destinations", j),
                    f"watchlist '{name}' names destination '{dest}', which is not defined{hint}",
                )
        query = wl.get("query")
        if check_query is None or not isinstance(query, str) or not query.strip():
            continue
        problem = check_query(query, concepts)
        if problem is not None:
            column, reason = problem
            report(
                ("watchlists", i, "query"), f"watchlist '{name}': query column {column}: {reason}"
            )
    health = data.get("feed_health")
    targets = health.get("destinations") if isinstance(health, dict) else None
    for j, dest in enumerate(targets if isinstance(targets, list) else []):
        if isinstance(dest, str) and dest not in dest_names:
            report(
                ("feed_health", "destinations", j),
                f"feed_health names destination '{dest}', which is not defined"
                f"{_suggest(dest, dest_names)}",
            )
    for section in ("feeds", "watchlists") if require_feeds else ("watchlists",):
        if not data.get(section):
            report((section,), f"no {section} configured: add at least one under {section}:")
    return problems


def _describe_validation(
    exc: ValidationError,
    where: str,
    positions: dict[Loc, tuple[int, int]],
    data: dict[str, Any],
    environ: Mapping[str, str],
) -> list[tuple[Loc, str]]:
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            allowed = _allowed_keys(loc[:-1], data)
            msg = f"unknown key '{key}'{_suggest(key, allowed)}"
        elif kind == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        variable = _override_of(loc, environ)
        place = f"{where}: {variable}: " if variable else _position(where, positions, loc)
        lines.append((loc, f"{place}{_dotted(loc)}: {msg}"))
    return lines


def _allowed_keys(parent: Loc, data: dict[str, Any]) -> set[str]:
    model: Any = Settings
    for part in parent:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return set()
        annotation = field.annotation
        args = getattr(annotation, "__args__", (annotation,))
        model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return set()
    return set(model.model_fields)


def _suggest(word: str, choices: set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _override_of(loc: Loc, environ: Mapping[str, str]) -> str | None:
    """The NEWSALERT_* variable that set this key (or a section above it), if one did."""
    keys = [str(p).upper() for p in loc if isinstance(p, str)]
    if len(keys) != len(loc):
        return None  # list items cannot be set from the environment
    for end in range(len(keys), 0, -1):
        name = "NEWSALERT_" + "__".join(keys[:end])
        if any(k.upper() == name for k in environ):
            return f"environment variable {name}"
    return None


def _position(where: str, positions: dict[Loc, tuple[int, int]], loc: Loc) -> str:
    for end in range(len(loc), -1, -1):
        if loc[:end] in positions:
            line, col = positions[loc[:end]]
            return f"{where}:{line}:{col}: "
    return f"{where}: (from the environment) "


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
