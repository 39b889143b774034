"""Reads a YAML config file into plain data, remembering where each value stood.

Positions let every config problem name its line and column; `${VAR}` and `${VAR:-default}`
are expanded inside string values after parsing, so an environment value can never change the
document's structure (a secret containing `: ` or `#` stays a plain string).

The data is built straight from the parser's events (libyaml's, when PyYAML has it), without
the node tree `yaml.compose` would build: a file of 100,000 watchlists holds about a million
nodes, each with two marks, which cost more time and memory than the data itself. Positions
are only needed when something is wrong, so they are collected on first use, by reading the
text a second time (bench/config_load.py measures both).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

Loc = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based line, column

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# libyaml's parser when PyYAML was built with it (the wheels are), else the pure-Python one;
# both give the same events, safe tags only.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"


class LoadedYaml:
    """The data of one file, the problems found reading it, and (on demand) positions."""

    def __init__(self, text: str, environ: Mapping[str, str]) -> None:
        self._text = text
        self._environ = environ
        self.problems: list[tuple[Loc, Position, str]] = []
        self.data: Any = _Builder(environ, self.problems, None).document(text)

    @cached_property
    def positions(self) -> dict[Loc, Position]:
        """Where each value stood, by its location in the data; read again on first use."""
        positions: dict[Loc, Position] = {}
        _Builder(self._environ, [], positions).document(self._text)
        return positions


def load_yaml(path: Path, environ: Mapping[str, str]) -> LoadedYaml:
    """Parse `path`; raise OSError / yaml.YAMLError for unreadable files or broken syntax."""
    return LoadedYaml(path.read_text(encoding="utf-8"), environ)


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


class _Builder:
    """Plain data from the parser's events: what `yaml.safe_load` gives for a config, except
    that duplicate keys are problems (the first value is kept), strings have `${VAR}`
    expanded, and with `positions` given, each value's position is recorded there."""

    def __init__(
        self,
        environ: Mapping[str, str],
        problems: list[tuple[Loc, Position, str]],
        positions: dict[Loc, Position] | None,
    ) -> None:
        self._environ = environ
        self._problems = problems
        self._positions = positions
        self._anchors: dict[str, tuple[Any, Any]] = {}  # value, mark
        self._loader: Any = None
        self._next: Callable[[], Any] = _no_event

    def document(self, text: str) -> Any:
        """The one document of `text` (None when it has none); raises yaml.YAMLError.

        A syntax error found by libyaml is raised as the pure-Python parser words it, which
        names the offending character (a tab, say) where libyaml does not.
        """
        try:
            return self._document(text, _LOADER)
        except yaml.YAMLError:
            if _LOADER is yaml.SafeLoader:
                raise
        self._anchors.clear()
        return self._document(text, yaml.SafeLoader)

    def _document(self, text: str, loader_class: type[yaml.SafeLoader]) -> Any:
        self._loader = loader = loader_class(text)
        try:
            next_event: Callable[[], Any] = loader.get_event
            self._next = next_event
            next_event()  # StreamStartEvent
            event = next_event()
            if isinstance(event, yaml.StreamEndEvent):
                return None
            data = self._node(next_event(), ())
            next_event()  # DocumentEndEvent
            event = next_event()
            if not isinstance(event, yaml.StreamEndEvent):
                raise yaml.composer.ComposerError(
                    "expected a single document in the stream",
                    None,
                    "but found another document",
                    event.start_mark,
                )
            return data
        finally:
            self._loader = None
            loader.dispose()

    def _node(self, event: Any, loc: Loc) -> Any:
        mark = event.start_mark
        if self._positions is not None:
            self._positions[loc] = (mark.line + 1, mark.column + 1)
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self._anchors:
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias {event.anchor!r}", mark
                )
            return self._anchors[event.anchor][0]
        if isinstance(event, yaml.ScalarEvent):
            value = self._scalar(event, loc)
        elif isinstance(event, yaml.SequenceStartEvent):
            value = []
            while not isinstance(item := self._next(), yaml.SequenceEndEvent):
                value.append(self._node(item, (*loc, len(value))))
        else:
            value = self._mapping(loc)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            if anchor in self._anchors:
                raise yaml.composer.ComposerError(
                    f"found duplicate anchor {anchor!r}; first occurrence",
                    self._anchors[anchor][1],
                    "second occurrence",
                    mark,
                )
            self._anchors[anchor] = (value, mark)
        return value

    def _mapping(self, loc: Loc) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while not isinstance(event := self._next(), yaml.MappingEndEvent):
            mark = event.start_mark
            if isinstance(event, yaml.ScalarEvent):
                key = str(event.value)
            else:  # a mapping or list as a key: no config key is one, so name it plainly
                key = str(self._node(event, (*loc, "?")))
            if key in result:
                where = (mark.line + 1, mark.column + 1)
                self._problems.append(((*loc, key), where, f"duplicate key '{key}'"))
                self._skip(self._next())
                continue
            result[key] = self._node(self._next(), (*loc, key))
        return result

    def _skip(self, event: Any) -> None:
        """Read past a duplicate key's value: its anchors still count, nothing else does."""
        problems, positions = self._problems, self._positions
        self._problems, self._positions = [], None
        try:
            self._node(event, ())
        finally:
            self._problems, self._positions = problems, positions

    def _scalar(self, event: Any, loc: Loc) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self._loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _STR:
            expanded, missing = expand_env(event.value, self._environ)
            mark = event.start_mark
            for name in missing:
                self._problems.append(
                    (
                        loc,
                        (mark.line + 1, mark.column + 1),
                        f"environment variable {name} is not set (set it, or write ${{{name}:-default}})",
                    )
                )
            return expanded
        # Plain scalars resolve to int/float/bool/null as YAML would; env refs only live in strings.
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        constructors: dict[Any, Callable[[Any, yaml.Node], Any]] = SafeConstructor.yaml_constructors
        return constructors.get(tag, constructors[None])(self._loader, node)


def _no_event() -> Any:
    raise RuntimeError("no document is being read")
