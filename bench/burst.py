"""What a burst of 50 matching stories produces on the README's busy Slack channel config.

Runs the real hold step and digest sender on a real SQLite store in a temporary directory, with
the clock passed in, and the Slack rendering of every message that would be posted. Two bursts:
at 09:00 London (daytime: the flood limit applies) and at 23:00 (quiet hours). Two of the 50
stories also match the priority watchlist. Prints one line per message and a summary.

    .venv/bin/python -m bench.burst
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from datetime import UTC, datetime
from datetime import time as tod
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from consumers.destinations.digest_render import render_slack_digest
from consumers.destinations.slack import render_slack
from consumers.digests import DigestSender, HoldingIntake
from consumers.holding import Flood, HoldPolicy, QuietHours
from consumers.notifier import Notifier
from consumers.story_desk import StoryDesk
from service.bus.base import Record
from service.metrics import Metrics
from service.models import Alert, Article, Digest, FeedRef, WatchlistMatch
from service.store import Store

POLICY = HoldPolicy(
    flood=Flood(max=5, per=600), quiet_hours=QuietHours(tod(22, 0), tod(7, 0), "Europe/London")
)


class Capture:
    """A Slack destination that renders and keeps what it would post."""

    name = "markets"
    min_interval = 0.0

    def __init__(self) -> None:
        self.posts: list[dict[str, object]] = []

    async def send(self, alert: Alert) -> None:
        self.posts.append(render_slack(alert))

    async def send_digest(self, digest: Digest) -> None:
        self.posts.append(render_slack_digest(digest))


def records(at: datetime) -> list[Record]:
    out = []
    for n in range(50):
        matches = [WatchlistMatch(watchlist="china", terms=["China"])]
        if n in (10, 30):
            matches.append(WatchlistMatch(watchlist="fed-cuts", terms=["rate cut"]))
        article = Article(
            id=f"a{n}",
            feed=FeedRef(name=f"wire{n % 4}", url="https://example.org/rss"),
            title=f"China markets story {n}: yuan moves as Beijing weighs stimulus",
            summary="",
            link=f"https://news.example.org/2026/06/01/china-story-{n}",
            published=at,
            fetched_at=at,
        )
        alert = Alert(
            id=f"al{n}", destination="markets", article=article, matches=matches, created_at=at
        )
        out.append(Record("alerts", alert.id, alert.model_dump_json().encode(), 0, n))
    return out


async def burst(local: str) -> list[str]:
    start = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Europe/London"))
    now = [start.timestamp()]
    clock = lambda: now[0]  # noqa: E731
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "burst.db", clock)
        slack = Capture()
        metrics = Metrics()
        notifier = Notifier(store.outbox, {"markets": slack}, {}, metrics, clock=clock)
        intake = HoldingIntake(
            store.held,
            notifier,
            StoryDesk.ungrouped(metrics),
            {"markets": POLICY},
            {"fed-cuts"},
            metrics,
            clock=clock,
        )
        sender = DigestSender(store.held, {"markets": slack}, {}, metrics, clock=clock)
        stop = asyncio.Event()
        # The poller publishes a poll's new items together; the intake takes up to 100 at once.
        await intake.handle(records(start))
        await notifier.run(stop, until_empty=True)
        singles = len(slack.posts)
        windows = await store.held.windows()
        for window in windows:
            now[0] = window.end
            await sender.run(stop, until_idle=True)
        await store.close()
    for post in slack.posts:
        blocks = post["blocks"]
        assert isinstance(blocks, list)
        head = blocks[0]["text"]["text"]
        lines.append(f"  {len(blocks):2d} blocks  {head[:90]}")
    when = [
        datetime.fromtimestamp(w.end, UTC).astimezone(ZoneInfo("Europe/London")) for w in windows
    ]
    lines.insert(
        0,
        f"burst at {local} London: {len(slack.posts)} Slack messages "
        f"({singles} single, {len(slack.posts) - singles} digest(s) at "
        f"{', '.join(w.strftime('%H:%M') for w in when)})",
    )
    return lines


async def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    for local in ("2026-06-01 09:00", "2026-06-01 23:00"):
        print("\n".join(await burst(local)))


if __name__ == "__main__":
    asyncio.run(main())
