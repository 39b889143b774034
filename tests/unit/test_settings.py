"""`newsalert check`'s engine: every broken config gives one line per problem with file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from service.app.config import load_config
from service.errors import ConfigError
from service.settings import Backfill

GOOD = """\
feeds:
  - name: coindesk
    url: https://www.coindesk.com/arc/outboundfeeds/rss/
    interval: 2m
watchlists:
  - name: china
    query: 'China OR "Hong Kong"'
    destinations: [markets, console]
destinations:
  - name: markets
    type: slack
    url: ${SLACK_URL}
  - name: audit
    type: webhook
    url: https://example.org/hook
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
  - name: console
    type: console
"""

ENV = {"SLACK_URL": "https://hooks.slack.com/services/T000/B000/XXXXSECRET"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newsalert.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, ENV if env is None else env)
    return info.value.problems


def test_good_config_loads_with_defaults_and_env(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, GOOD), ENV)
    assert settings.kafka is None
    assert settings.feeds[0].interval == 120
    assert settings.feed_backfill(settings.feeds[0]) == Backfill("newer_than", seconds=86400)
    slack = settings.destinations[0]
    assert slack.url is not None
    assert slack.url.get_secret_value() == ENV["SLACK_URL"]
    assert "XXXXSECRET" not in repr(settings)


def test_environment_overrides_file(tmp_path: Path) -> None:
    env = {
        **ENV,
        "NEWSALERT_STATE_DIR": "/srv/newsalert-state",
        "NEWSALERT_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "NEWSALERT_DELIVERY__MAX_ATTEMPTS": "3",
    }
    settings = load_config(write(tmp_path, GOOD), env)
    assert str(settings.state_dir) == "/srv/newsalert-state"
    assert settings.kafka is not None and settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.delivery.max_attempts == 3


def test_default_config_of_the_repo_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    settings = load_config(root / "config" / "newsalert.yaml", {})
    assert {w.name for w in settings.watchlists} == {"china", "ico", "fed-cuts"}
    assert [d.type for d in settings.destinations] == ["console"]
    assert len(settings.feeds) >= 8


BROKEN = [
    # (what, config text, expected fragment, expected line)
    (
        "unknown top-level key",
        GOOD + "feeeds: []\n",
        "unknown key 'feeeds' (did you mean 'feeds'?)",
        19,
    ),
    (
        "unknown key in a feed",
        GOOD.replace("    interval: 2m", "    intervall: 2m"),
        "feeds[0].intervall: unknown key 'intervall' (did you mean 'interval'?)",
        4,
    ),
    ("bad duration", GOOD.replace("interval: 2m", "interval: soon"), "invalid duration 'soon'", 4),
    (
        "bad backfill",
        GOOD.replace("interval: 2m", "backfill: lots"),
        "invalid backfill 'lots'",
        4,
    ),
    (
        "wrong type",
        GOOD + "delivery:\n  max_attempts: many\n",
        "delivery.max_attempts: Input should be a valid integer",
        20,
    ),
    (
        "bad feed url",
        GOOD.replace("https://www.coindesk", "ftp://www.coindesk"),
        "feeds[0].url: must be an absolute http",
        3,
    ),
    (
        "duplicate feed name",
        GOOD.replace(
            "watchlists:", "  - name: coindesk\n    url: https://example.org/rss\nwatchlists:"
        ),
        "feeds[1].name: duplicate name 'coindesk'",
        5,
    ),
    (
        "dangling destination",
        GOOD.replace("[markets, console]", "[markts, console]"),
        "names destination 'markts', which is not defined (did you mean 'markets'?)",
        8,
    ),
    (
        "unparseable query",
        GOOD.replace("""'China OR "Hong Kong"'""", "'China OR (Beijing'"),
        "watchlist 'china': query column",
        7,
    ),
    ("duplicate key", GOOD + "state_dir: a\nstate_dir: b\n", "duplicate key 'state_dir'", 20),
    (
        "unknown destination type",
        GOOD.replace("type: console", "type: pigeon"),
        "destinations[2].type",
        18,
    ),
    (
        "slack without url",
        GOOD.replace("    url: ${SLACK_URL}\n", ""),
        "a slack destination needs a url",
        10,
    ),
    (
        "bad webhook secret",
        GOOD.replace("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "not base64!"),
        'secret must be "whsec_" followed by base64',
        13,
    ),
    ("tab indentation", GOOD.replace("  - name: coindesk", "\t- name: coindesk"), "tabs", 2),
    (
        "broken yaml",
        GOOD.replace("[markets, console]", "[markets, console"),
        "YAML syntax error",
        9,
    ),
    (
        "no watchlists",
        "feeds:\n  - name: a\n    url: https://example.org/rss\ndestinations: []\n",
        "no watchlists configured",
        1,
    ),
    ("top level is a list", "- a\n- b\n", "the top level must be a mapping", 1),
    (
        "negative interval",
        GOOD.replace("interval: 2m", "interval: -5"),
        "a duration cannot be negative",
        4,
    ),
    (
        "interval too short",
        GOOD.replace("interval: 2m", "interval: 100ms"),
        "interval must be at least 1s",
        4,
    ),
    ("bad name", GOOD.replace("name: china", "name: 'my watchlist!'"), "watchlists[0].name", 6),
]


@pytest.mark.parametrize(("what", "text", "fragment", "line"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_config_names_file_line_and_problem(
    tmp_path: Path, what: str, text: str, fragment: str, line: int
) -> None:
    problems = problems_of(tmp_path, text)
    matching = [p for p in problems if fragment in p]
    assert matching, f"{what}: {fragment!r} not in {problems}"
    assert matching[0].startswith(f"{tmp_path / 'newsalert.yaml'}:{line}:"), matching[0]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("interval: 2m", "interval: soon").replace("[markets, console]", "[nowhere]")
    problems = problems_of(tmp_path, text + "bogus: 1\n")
    assert len(problems) == 3, problems


def test_missing_environment_variable_is_named_not_guessed(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, GOOD, env={})
    assert any("environment variable SLACK_URL is not set" in p for p in problems), problems
    assert all(":12:" in p for p in problems if "SLACK_URL" in p)


def test_env_default_is_used_when_variable_unset(tmp_path: Path) -> None:
    text = GOOD.replace("${SLACK_URL}", "${SLACK_URL:-https://example.org/fallback}")
    settings = load_config(write(tmp_path, text), {})
    assert settings.destinations[0].url is not None
    assert settings.destinations[0].url.get_secret_value() == "https://example.org/fallback"


def test_empty_file_and_missing_file(tmp_path: Path) -> None:
    assert "is empty" in problems_of(tmp_path, "")[0]
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", {})
    assert "config file not found" in info.value.problems[0]


def test_secrets_never_appear_in_problems(tmp_path: Path) -> None:
    secret_url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    text = GOOD.replace("type: slack", "type: slack\n    secret: whsec_c2VjcmV0c2VjcmV0c2VjcmV0")
    text = text.replace("https://example.org/hook", "not a url XXXXHOOKSECRET")
    problems = problems_of(tmp_path, text, env={"SLACK_URL": secret_url})
    joined = "\n".join(problems)
    assert len(problems) == 2, problems
    assert "XXXXSECRET" not in joined and "XXXXHOOKSECRET" not in joined
    assert "c2VjcmV0" not in joined


def test_a_missing_variable_is_one_problem_not_two(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, GOOD, env={})
    assert len(problems) == 1, problems


def test_a_section_variable_that_is_not_json_is_named(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, GOOD, env={**ENV, "NEWSALERT_POLLING": "{bad"})
    assert len(problems) == 1
    assert "NEWSALERT_POLLING" in problems[0] and "not valid JSON" in problems[0]


def test_sasl_needs_its_credentials(tmp_path: Path) -> None:
    text = GOOD + "kafka:\n  bootstrap_servers: b:9092\n  security_protocol: SASL_SSL\n"
    [problem] = problems_of(tmp_path, text)
    assert "SASL_SSL needs sasl_mechanism, sasl_username, sasl_password" in problem
