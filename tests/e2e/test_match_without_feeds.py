"""`newsalert match` polls nothing, so its config needs no `feeds:`; `run` and `check` still do."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from service.app.config import load_config
from service.errors import ConfigError
from tests.support.cli import run_cli
from tests.support.sample_feeds import CHINA, OTHER, rss

NO_FEEDS = textwrap.dedent(
    """\
    watchlists:
      - {name: china, query: 'China OR PBoC', destinations: [console]}
    destinations:
      - {name: console, type: console}
    """
)


def test_load_config_requires_feeds_unless_told_not_to(tmp_path: Path) -> None:
    path = tmp_path / "newsalert.yaml"
    path.write_text(NO_FEEDS, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert any("no feeds configured" in p for p in caught.value.problems)
    settings = load_config(path, {}, require_feeds=False)
    assert settings.feeds == []
    assert [w.name for w in settings.watchlists] == ["china"]


def test_match_runs_without_feeds_but_run_does_not(tmp_path: Path) -> None:
    config = tmp_path / "newsalert.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n" + NO_FEEDS, encoding="utf-8")
    feed = tmp_path / "saved.xml"
    feed.write_bytes(rss([CHINA, OTHER]))

    matched = run_cli("match", "--json", "-c", str(config), str(feed))
    assert matched.returncode == 0, matched.stderr
    rows = [json.loads(line) for line in matched.stdout.splitlines()]
    assert {r["title"]: r["watchlists"] for r in rows} == {
        CHINA.title: ["china"],
        OTHER.title: [],
    }

    for command in (["run", "--once"], ["check"]):
        refused = run_cli(*command, "-c", str(config))
        assert refused.returncode == 2, (command, refused.stderr)
        assert "no feeds configured" in refused.stderr
