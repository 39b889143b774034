"""The matching core is pure: the standard library and its own modules, no I/O, clock,
asyncio or process-wide collector settings (DESIGN.md, Layout)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import consumers.matching

PACKAGE = Path(consumers.matching.__file__).parent
# Standard modules that would bring I/O, a clock, concurrency or process-wide state.
FORBIDDEN = frozenset(
    {"asyncio", "datetime", "gc", "io", "os", "pathlib", "socket", "subprocess", "threading"}
    | {"time", "random", "logging", "shutil", "tempfile", "urllib", "http", "sqlite3"}
)


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_matching_core_imports_only_the_standard_library_and_itself() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) > 5
    for path in modules:
        for name in imported(path):
            top = name.split(".")[0]
            if name.startswith("consumers.matching"):
                continue
            assert top in sys.stdlib_module_names or top == "__future__", (path.name, name)
            assert top not in FORBIDDEN, (path.name, name)


def test_no_module_of_the_core_is_longer_than_about_400_lines() -> None:
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 420, path.name
