"""Broken configs through the real command line: `newsalert check` and `newsalert run` both exit
2 with one line per problem naming the file, the place (line:column and field) and the fix, and
never a traceback. tests/unit/test_settings.py covers the loader itself; these are the kinds an
operator meets, end to end.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.cli import run_cli

SECRET = "https://hooks.slack.com/services/T0SECRET/B0SECRET/sEcReTtOkEn123"
GOOD = """\
state_dir: {state}
health:
  port: 0
polling:
  interval: 5m
feeds:
  - name: wire
    url: http://127.0.0.1:9/feed.xml
watchlists:
  - name: china
    query: 'China OR "Hong Kong"'
    destinations: [markets, console]
destinations:
  - name: markets
    type: slack
    url: ${{SLACK_URL}}
  - name: audit
    type: webhook
    url: https://example.org/hook
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
  - name: console
    type: console
"""


@dataclass(frozen=True)
class Broken:
    kind: str
    old: str  # replaced in GOOD by `new`; empty `old` means the whole file is `new`
    new: str
    says: list[str]  # the place (field) and the fix, as the user reads them
    line: int | None  # the line named, when the problem has one
    env: dict[str, str] = field(default_factory=dict)


def deep_query(depth: int) -> str:
    return "(" * depth + "China" + ")" * depth


CASES = [
    Broken("yaml syntax", "  port: 0", "  port: [0", ["YAML syntax error"], 4),
    Broken("tab indentation", "  - name: wire", "\t- name: wire", ["spaces, not tabs"], 7),
    Broken("unknown top-level key", "polling:", "poling:", ["unknown key 'poling'",
           "did you mean 'polling'"], 5),
    Broken("unknown nested key", "  interval: 5m", "  intervall: 5m",
           ["polling.intervall", "did you mean 'interval'"], 5),
    Broken("wrong type: number", "  port: 0", "  port: eighty", ["health.port", "integer"], 3),
    Broken("wrong type: list expected", "feeds:\n  - name: wire\n    url: http://127.0.0.1:9/feed.xml",
           "feeds: wire", ["feeds", "list"], 6),
    Broken("missing environment variable", "state_dir", "state_dir",
           ["destinations[0].url", "SLACK_URL is not set", "${SLACK_URL:-"], 16),
    Broken("duplicate feed name", "    url: http://127.0.0.1:9/feed.xml",
           "    url: http://127.0.0.1:9/feed.xml\n  - name: wire\n    url: http://127.0.0.1:9/b",
           ["feeds[1].name", "duplicate name 'wire'", "unique"], 9),
    Broken("duplicate destination name", "  - name: console\n    type: console",
           "  - name: console\n    type: console\n  - name: console\n    type: console",
           ["destinations[3].name", "duplicate name 'console'"], 23),
    Broken("dangling destination", "[markets, console]", "[markets, consol]",
           ["watchlists[0].destinations[1]", "'consol'", "did you mean 'console'"], 12),
    Broken("unparseable query", "query: 'China OR \"Hong Kong\"'", "query: 'China OR (Hong'",
           ["watchlists[0].query", "column"], 11),
    Broken("query too long", "query: 'China OR \"Hong Kong\"'", "query: '" + "China " * 400 + "'",
           ["watchlists[0].query", "2000"], 11),
    Broken("query nested too deep", "query: 'China OR \"Hong Kong\"'",
           f"query: '{deep_query(25)}'", ["watchlists[0].query", "nest"], 11),
    Broken("query with too many terms", "query: 'China OR \"Hong Kong\"'",
           "query: '" + " OR ".join(f"w{i}" for i in range(60)) + "'",
           ["watchlists[0].query", "50"], 11),
    Broken("query NEAR out of range", "query: 'China OR \"Hong Kong\"'", "query: 'fed NEAR/99 cut'",
           ["watchlists[0].query", "50"], 11),
    Broken("feed URL with another scheme", "url: http://127.0.0.1:9/feed.xml",
           "url: ftp://127.0.0.1/feed.xml", ["feeds[0].url", "http:// or https://"], 8),
    Broken("feed URL without host", "url: http://127.0.0.1:9/feed.xml", "url: 'http:///feed.xml'",
           ["feeds[0].url", "http:// or https://"], 8),
    Broken("bad duration", "  interval: 5m", "  interval: 5 minutes",
           ["polling.interval", "duration"], 5),
    Broken("interval below a second", "  interval: 5m", "  interval: 500ms",
           ["polling.interval", "at least 1s"], 5),
    Broken("empty file", "", "\n", ["empty", "feeds"], None),
    Broken("top level is a list", "", "- feeds\n- watchlists\n", ["top level must be a mapping"],
           1),
    Broken("duplicate key", "health:\n  port: 0", "health:\n  port: 0\n  port: 1",
           ["health.port", "duplicate key 'port'"], 4),
    Broken("missing required key", "    query: 'China OR \"Hong Kong\"'\n", "",
           ["watchlists[0].query", "required"], 10),
    Broken("unknown destination type", "    type: console", "    type: pigeon",
           ["destinations[2].type", "'ntfy', 'telegram' or 'email'"], 22),
    Broken("slack without url", "    url: ${SLACK_URL}\n", "",
           ["destinations[0]", "needs a url"], 14),
    Broken("webhook secret not base64", "secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
           "secret: whsec_not-base64!!", ["destinations[1]", "base64"], 17),
    Broken("webhook secret too short", "secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
           "secret: whsec_c2hvcnQ=", ["destinations[1]", "at least 16"], 17),
    Broken("console with a url", "    type: console", "    type: console\n    url: https://x.org/",
           ["destinations[2]", "takes no url"], 21),
    Broken("bad backfill", "  interval: 5m", "  interval: 5m\n  backfill: yesterday",
           ["polling.backfill", "none, all, a count"], 6),
    Broken("bad size", "  interval: 5m", "  interval: 5m\n  max_body: 10 megs",
           ["polling.max_body", "size"], 6),
    Broken("number out of range", "  port: 0", "  port: 70000", ["health.port", "65535"], 3),
    Broken("unknown log level", "  port: 0", "  port: 0\nlogging:\n  level: verbose",
           ["logging.level", "'debug', 'info', 'warning' or 'error'"], 5),
    Broken("name with spaces", "  - name: china", "  - name: my china list",
           ["watchlists[0].name", "pattern"], 10),
    Broken("empty destinations list", "[markets, console]", "[]",
           ["watchlists[0].destinations", "at least 1"], 12),
]  # fmt: skip


def _write(tmp_path: Path, case: Broken) -> Path:
    text = GOOD.format(state=tmp_path / "state")
    if case.old:
        assert case.old in text, case.kind
        text = text.replace(case.old, case.new, 1)
    else:
        text = case.new
    path = tmp_path / "broken.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_the_good_config_passes(tmp_path: Path) -> None:
    """The base every case breaks is itself valid (so each case breaks exactly one thing)."""
    path = _write(tmp_path, Broken("none", "state_dir", "state_dir", [], None))
    result = run_cli("check", "-c", str(path), env={"SLACK_URL": SECRET})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: OK")


def test_there_are_at_least_25_kinds() -> None:
    assert len({c.kind for c in CASES}) >= 25


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_broken_config_exits_2_naming_file_place_and_fix(
    tmp_path: Path, case: Broken, command: str
) -> None:
    path = _write(tmp_path, case)
    env = {"SLACK_URL": SECRET, **case.env}
    if case.kind == "missing environment variable":
        env = {}  # GOOD reads ${SLACK_URL}, which is not set
    result = run_cli(command, "-c", str(path), env=env, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    problems = result.stderr.strip().splitlines()
    assert problems, "no message"
    assert "Traceback" not in result.stderr and result.stdout == ""
    # Every line starts with the file; the expected problem names its line and field.
    assert all(p.startswith(str(path)) for p in problems), problems
    text = " ".join(problems)
    for needle in case.says:
        assert needle in text, f"{needle!r} not in {problems}"
    if case.line is not None:
        assert re.search(rf"^{re.escape(str(path))}:{case.line}:\d+: ", result.stderr, re.M), (
            problems
        )
    assert "sEcReTtOkEn123" not in result.stderr  # the Slack URL is a secret


@pytest.mark.parametrize("command", ["check", "run"])
def test_missing_and_unreadable_files_exit_2(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nowhere.yaml"
    result = run_cli(command, "-c", str(missing))
    assert result.returncode == 2 and str(missing) in result.stderr
    assert "not found" in result.stderr and "NEWSALERT_CONFIG" in result.stderr
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("feeds: []\n# caf\xe9\n".encode("latin-1"))
    result = run_cli(command, "-c", str(latin))
    assert result.returncode == 2 and str(latin) in result.stderr and "UTF-8" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["check", "run"])
def test_bad_value_from_the_environment_exits_2(tmp_path: Path, command: str) -> None:
    path = _write(tmp_path, Broken("env", "state_dir", "state_dir", [], None))
    env = {"SLACK_URL": SECRET, "NEWSALERT_POLLING__INTERVAL": "soon"}
    result = run_cli(command, "-c", str(path), env=env, timeout=30)
    assert result.returncode == 2
    assert "polling.interval" in result.stderr and "invalid duration 'soon'" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_value_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    path = _write(tmp_path, Broken("env", "state_dir", "state_dir", [], None))
    env = {"SLACK_URL": SECRET, "NEWSALERT_POLLING__INTERVAL": "soon"}
    result = run_cli("check", "-c", str(path), env=env, timeout=30)
    assert "NEWSALERT_POLLING__INTERVAL" in result.stderr or "environment" in result.stderr
