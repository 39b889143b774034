"""Reading a config file into data: what YAML's safe loader gives, with positions when asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from service.yamlconf import describe_yaml_error, expand_env, load_yaml

ROOT = Path(__file__).resolve().parents[2]


def expanded(value: Any) -> Any:
    """`${VAR:-default}` replaced throughout, with no variable set."""
    if isinstance(value, dict):
        return {key: expanded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expanded(item) for item in value]
    return expand_env(value, {})[0] if isinstance(value, str) else value


@pytest.mark.parametrize("path", sorted((ROOT / "config").rglob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_configs_read_as_yaml_reads_them(path: Path) -> None:
    expected = expanded(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert load_yaml(path, {}).data == expected


def test_anchors_scalars_and_positions(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "targets: &t [markets, console]\n"
        "watchlists:\n"
        "  - name: china\n"
        "    destinations: *t\n"
        "    priority: yes\n"
        "    query: ${QUERY:-China}\n"
        "count: 0x10\n"
        "empty: ~\n",
        encoding="utf-8",
    )
    loaded = load_yaml(path, {})
    assert loaded.data == {
        "targets": ["markets", "console"],
        "watchlists": [
            {
                "name": "china",
                "destinations": ["markets", "console"],
                "priority": True,
                "query": "China",
            }
        ],
        "count": 16,
        "empty": None,
    }
    assert loaded.positions["watchlists", 0, "query"] == (6, 12)
    assert loaded.positions["targets", 1] == (1, 23)


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("a:\n\tb: 1\n", (2, 1), "spaces, not tabs"),
        ("a: *nowhere\n", (1, 4), "found undefined alias 'nowhere'"),
        ("a: 1\n---\nb: 2\n", (2, 1), "expected a single document"),
        ("a: &x 1\nb: &x 2\n", (2, 4), "found duplicate anchor 'x'"),
    ],
)
def test_broken_files_say_where_and_why(
    tmp_path: Path, text: str, where: tuple[int, int], reason: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(yaml.YAMLError) as caught:
        load_yaml(path, {})
    line, column, message = describe_yaml_error(caught.value)
    assert (line, column) == where
    assert reason in message
