"""`newsalert eval` as a user runs it: figures per watchlist, and one sentence per mistake."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import run_cli
from tests.support.sample_feeds import BOTH, CHINA, ICO, OTHER, Item, rss

CONFIG = """
feeds:
  - name: wire
    url: https://news.example.org/rss
watchlists:
  - name: china
    query: 'China OR Beijing'
    destinations: [console]
  - name: ico
    query: 'ICO'
    destinations: [console]
destinations:
  - name: console
    type: console
"""


def _setup(tmp_path: Path, labels: str) -> tuple[Path, Path]:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "wire.xml").write_bytes(
        rss([CHINA, ICO, BOTH, OTHER, Item("t1", "Token presale opens", "A new coin sells.")])
    )
    config = tmp_path / "newsalert.yaml"
    config.write_text(CONFIG)
    path = tmp_path / "labels.tsv"
    path.write_text(labels)
    return config, path


def test_eval_prints_precision_recall_and_the_misses(tmp_path: Path) -> None:
    config, labels = _setup(
        tmp_path,
        "source\ttitle\tchina\tico\n"
        f"feeds/wire.xml\t{CHINA.title}\t1\t0\n"
        f"feeds/wire.xml\t{ICO.title}\t0\t1\n"
        f"feeds/wire.xml\t{BOTH.title}\t1\t1\n"
        f"feeds/wire.xml\t{OTHER.title}\t0\t0\n"
        "feeds/wire.xml\tToken presale opens\t0\t1\n",
    )
    result = run_cli("eval", "--json", "-c", str(config), str(labels))
    assert result.returncode == 0, result.stderr
    china, ico = (json.loads(line) for line in result.stdout.splitlines())
    assert china == {
        "watchlist": "china",
        "precision": 1.0,
        "recall": 1.0,
        "tp": 2,
        "fp": 0,
        "fn": 0,
        "false_alarms": [],
        "misses": [],
    }
    assert (ico["tp"], ico["fp"], ico["fn"]) == (2, 0, 1)
    assert ico["misses"] == ["Token presale opens"]
    assert ico["recall"] == 2 / 3

    text = run_cli("eval", "-c", str(config), str(labels))
    assert "ico: precision 1.000, recall 0.667 (tp 2, fp 0, fn 1)" in text.stdout
    assert "  miss: Token presale opens" in text.stdout


def test_eval_errors_are_one_sentence(tmp_path: Path) -> None:
    config, labels = _setup(tmp_path, "source\ttitle\tchina\tnope\n")
    result = run_cli("eval", "-c", str(config), str(labels))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"newsalert: {labels}: line 1: column nope names no watchlist of the config "
        "(the config has: china, ico)"
    )

    labels.write_text("source\ttitle\tchina\nfeeds/wire.xml\tNo such headline\t1\n")
    result = run_cli("eval", "-c", str(config), str(labels))
    assert result.returncode == 1
    assert "line 2: no entry titled 'No such headline' in feeds/wire.xml" in result.stderr
    assert "Traceback" not in result.stderr

    result = run_cli("eval", "-c", str(config), str(tmp_path / "missing.tsv"))
    assert result.returncode == 1
    assert "missing.tsv: labels file not found" in result.stderr
