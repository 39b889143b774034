"""Reads a YAML config file into plain data, remembering where each value stood.

Positions let every config problem name its line and column; `${VAR}` and `${VAR:-default}`
are expanded inside string values after parsing, so an environment value can never change the
document's structure (a secret containing `: ` or `#` stays a plain string).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Loc = tuple[str | int, ...]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class LoadedYaml:
    data: Any
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)  # 1-based line, column
    problems: list[tuple[Loc, tuple[int, int], str]] = field(default_factory=list)


def load_yaml(path: Path, environ: Mapping[str, str]) -> LoadedYaml:
    """Parse `path`; raise OSError / yaml.YAMLError for unreadable files or broken syntax."""
    text = path.read_text(encoding="utf-8")
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    loaded = LoadedYaml(data=None)
    if node is None:
        return loaded
    loaded.data = _build(node, (), loaded, environ)
    return loaded


def describe_yaml_error(exc: yaml.YAMLError) -> tuple[int, int, str]:
    """Line, column and a one-line reason for a YAML syntax error."""
    mark = getattr(exc, "problem_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    if "\t" in problem or "'\\t'" in problem or "tab" in problem:
        problem += " (YAML indentation must use spaces, not tabs)"
    context = getattr(exc, "context", None)
    reason = f"{context}, {problem}" if context else str(problem)
    return line, column, f"YAML syntax error: {reason}"


def expand_env(value: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace `${VAR}` and `${VAR:-default}`; return the result and the names that were unset."""
    missing: list[str] = []

    def substitute(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in environ and (environ[name] != "" or default is None):
            return environ[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    return _ENV_REF.sub(substitute, value), missing


def _build(node: yaml.Node, loc: Loc, out: LoadedYaml, environ: Mapping[str, str]) -> Any:
    out.positions[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in result:
                where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                out.problems.append(((*loc, key), where, f"duplicate key '{key}'"))
                continue
            result[key] = _build(value_node, (*loc, key), out, environ)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*loc, i), out, environ) for i, item in enumerate(node.value)]
    if node.tag == "tag:yaml.org,2002:str":
        expanded, missing = expand_env(str(node.value), environ)
        for name in missing:
            out.problems.append(
                (
                    loc,
                    out.positions[loc],
                    f"environment variable {name} is not set (set it, or write ${{{name}:-default}})",
                )
            )
        return expanded
    # Plain scalars resolve to int/float/bool/null as YAML would; env refs only live in strings.
    return _SCALAR_LOADER.construct_object(node, deep=True)


_SCALAR_LOADER = yaml.SafeLoader("")
