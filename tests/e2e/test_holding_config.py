"""Flood control, digests, quiet hours, priority and feed health in the config, through the real
`newsalert check`: a good config passes; each kind of mistake is one line naming its place."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.support.cli import run_cli

GOOD = """\
state_dir: {state}
feeds:
  - name: wire
    url: http://127.0.0.1:9/feed.xml
    stale_after: 2h
watchlists:
  - name: china
    query: China
    destinations: [markets]
  - name: fed-cuts
    query: '"rate cut"'
    destinations: [markets]
    priority: true
destinations:
  - name: markets
    type: console
    flood: {{max: 5, per: 10m}}
    digest: {{at: ["08:00", "17:30"], timezone: Europe/London}}
    quiet_hours: {{from: "22:00", to: "07:00", timezone: Europe/London}}
  - name: hourly
    type: console
    digest: {{every: 1h}}
  - name: ops
    type: console
feed_health:
  destinations: [ops]
  failing_after: 3
  failing_for: 30m
  stale_after: 24h
"""

BAD = """\
state_dir: {state}
feeds:
  - name: wire
    url: http://127.0.0.1:9/feed.xml
    stale_after: soon
watchlists:
  - name: china
    query: China
    destinations: [markets]
    priority: maybe
destinations:
  - name: markets
    type: console
    flood: {{max: 0, per: 10x}}
    digest: {{at: ["8:00", "25:00"], timezone: Europe/Londn}}
  - name: quiet
    type: console
    quiet_hours: {{from: "22:00", to: "22:00"}}
  - name: both
    type: console
    digest: {{every: 1h, at: ["08:00"]}}
feed_health:
  destinations: [opps]
  failing_for: 0s
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newsalert.yaml"
    path.write_text(textwrap.dedent(text.format(state=tmp_path / "state")))
    return path


def test_good_config_passes(tmp_path: Path) -> None:
    result = run_cli("check", "-c", str(write(tmp_path, GOOD)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_problem_is_one_line(tmp_path: Path) -> None:
    result = run_cli("check", "-c", str(write(tmp_path, BAD)))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "newsalert.yaml" in line]
    expected = [
        "feeds[0].stale_after: invalid duration 'soon'",
        "watchlists[0].priority: Input should be a valid boolean",
        "destinations[0].flood.max: Input should be greater than or equal to 1",
        "destinations[0].flood.per: invalid duration '10x'",
        "destinations[0].digest.at[0]: invalid time of day '8:00': use HH:MM",
        "destinations[0].digest.at[1]: invalid time of day '25:00'",
        "destinations[0].digest.timezone: unknown time zone 'Europe/Londn'",
        "destinations[1].quiet_hours: from and to are the same time",
        "destinations[2].digest: give either every (e.g. 1h) or at",
        "feed_health.failing_for: must be a positive duration",
        "feed_health.destinations[0]: feed_health names destination 'opps', which is not defined",
    ]
    for needle in expected:
        assert sum(needle in line for line in lines) == 1, (needle, lines)
    assert len(lines) == len(expected), lines
