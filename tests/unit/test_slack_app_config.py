"""Slack app mode in the config: what `check` accepts, the one line it prints for each
mistake, and which destinations the story desk sends later copies to."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.story_desk import StoryRecord
from service.app.config import load_config
from service.app.destinations import story_desk
from service.errors import ConfigError
from service.metrics import Metrics
from service.models import Alert, Article, FeedRef, WatchlistMatch
from service.settings import Settings

TOKEN = "xoxb-1234-5678-SECRETBOTTOKEN"
BASE = """\
feeds:
  - name: wire
    url: https://example.org/rss
watchlists:
  - name: china
    query: China
    destinations: [markets]
destinations:
  - name: markets
    type: slack
"""


def load(tmp_path: Path, keys: str) -> Settings:
    path = tmp_path / "newsalert.yaml"
    path.write_text(BASE + textwrap.indent(textwrap.dedent(keys), "    "), encoding="utf-8")
    return load_config(path, {"TOKEN": TOKEN})


def problem(tmp_path: Path, keys: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, keys)
    [line] = info.value.problems
    assert TOKEN not in line and "SECRETBOTTOKEN" not in line
    return line


def test_app_mode_loads_with_the_public_api_by_default(tmp_path: Path) -> None:
    settings = load(tmp_path, 'token: ${TOKEN}\nchannel: "#markets"\nupdates: edit\n')
    [dest] = settings.destinations
    assert dest.app_mode and dest.updates == "edit"
    assert dest.slack_api_url == "https://slack.com/api"
    assert TOKEN not in repr(settings)


def test_api_url_can_point_at_a_gateway(tmp_path: Path) -> None:
    settings = load(
        tmp_path, 'token: ${TOKEN}\nchannel: C0123\napi_url: "https://gw.example/api/"\n'
    )
    assert settings.destinations[0].slack_api_url == "https://gw.example/api"


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ("token: ${TOKEN}\n", "a slack destination in app mode needs a channel"),
        ('channel: "#markets"\n', "a slack destination in app mode needs a token"),
        ("", "a slack destination needs a url (incoming webhook) or token and channel"),
        (
            "url: https://hooks.slack.com/services/T/B/x\ntoken: ${TOKEN}\n",
            "not both: remove token or url",
        ),
        (
            'token: ${TOKEN}\nchannel: "#m"\nupdates: true\n',
            "updates for slack app mode is thread or edit",
        ),
        ('token: ${TOKEN}\nchannel: "#m"\napi_url: ftp://x\n', "api_url must be an absolute"),
        ('token: "xoxb-1 2"\nchannel: "#m"\n', "token is not a Slack token"),
    ],
)
def test_each_mistake_is_one_line_naming_the_destination(
    tmp_path: Path, keys: str, says: str
) -> None:
    line = problem(tmp_path, keys)
    assert "destinations[0]" in line and says in line, line


class _Log:
    async def record(self, record: StoryRecord) -> None:
        pass


def _alert(destination: str, feed: str) -> Alert:
    article = Article(
        id=f"{feed}-1",
        feed=FeedRef(name=feed, url=f"https://{feed}.example/rss"),
        title="China's central bank cuts the reserve requirement ratio",
        summary="",
        link="https://news.example/pboc",  # the same link: the same story
        published=datetime(2026, 12, 2, 9, tzinfo=UTC),
        fetched_at=datetime(2026, 12, 2, 9, tzinfo=UTC),
    )
    return Alert(
        id=f"{destination}-{feed}",
        destination=destination,
        article=article,
        matches=[WatchlistMatch(watchlist="china", terms=["China"])],
        created_at=datetime(2026, 12, 2, 9, tzinfo=UTC),
    )


async def test_app_mode_with_updates_gets_later_copies_and_without_does_not(
    tmp_path: Path,
) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(
        BASE.replace("[markets]", "[markets, quiet]")
        + '    token: ${TOKEN}\n    channel: "#m"\n    updates: thread\n'
        + '  - name: quiet\n    type: slack\n    token: ${TOKEN}\n    channel: "#q"\n'
    )
    desk = story_desk(load_config(path, {"TOKEN": TOKEN}), _Log(), Metrics())
    for name in ("markets", "quiet"):
        first = await desk.decide(_alert(name, "wire"))
        assert first is not None and first.story is not None and first.story.first
    update = await desk.decide(_alert("markets", "desk"))
    assert update is not None and update.story is not None and not update.story.first
    assert update.story.sources == ["wire", "desk"]
    assert await desk.decide(_alert("quiet", "desk")) is None
