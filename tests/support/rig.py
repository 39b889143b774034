"""The setup every multi-process scenario shares, and what reached its receiver.

- `write_config`: a config with story feeds, one watchlist and signed webhook destinations,
  embedded or over Kafka.
- `pipeline_rig`: story feeds on a local server, a signed webhook receiver, a supervisor and
  that config, together for one `with` block.
- `tally`, `wait_delivered`, `first_arrivals`: what reached a `WebhookReceiver`, against what
  was expected; `report` prints a scenario's figures into the pytest output.

Synchronous and thread-based, so the Kafka and container tests and bench/kafka_latency share it.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from tests.support.cli import WEBHOOK_SECRET
from tests.support.feed_server import FeedServer
from tests.support.processes import Supervisor
from tests.support.receivers import Received, WebhookReceiver
from tests.support.story_feeds import MATCH_WORD, StoryFeeds


def write_config(
    path: Path,
    *,
    feeds: Mapping[str, str],
    webhook_url: str,
    destinations: Sequence[str] = ("hook",),
    kafka: Mapping[str, Any] | None = None,
    state_dir: Path | None = None,
    interval: str = "1s",
    backfill: str = "all",
) -> Path:
    """A config with `feeds` (name -> url), one watchlist on `MATCH_WORD` and one signed webhook
    destination per name in `destinations`, all aimed at `webhook_url` (the path tells them
    apart). `kafka` absent means embedded mode."""
    config: dict[str, Any] = {
        "state_dir": str(state_dir or path.parent / "state"),
        "health": {"port": 0},
        "network": {"allow_private": True},
        "logging": {"format": "json"},
        "polling": {"interval": interval, "backfill": backfill, "timeout": "5s"},
        # The rig's stories (story_feeds) differ only by number and feed ("China story 00001 on f01"),
        # which story grouping rightly takes for copies of one event. These runs count
        # deliveries, so grouping is off here; tests/e2e/test_stories.py covers it.
        "stories": {"window": 0},
        "feeds": [{"name": name, "url": url} for name, url in feeds.items()],
        "watchlists": [
            {"name": "china", "query": MATCH_WORD, "destinations": list(destinations)},
        ],
        # Generous attempts with short backoffs: a receiver or broker that is briefly away
        # must delay alerts, never dead-letter them.
        "delivery": {
            "max_attempts": 30,
            "initial_backoff": "100ms",
            "max_backoff": "1s",
            "timeout": "5s",
        },
        "destinations": [
            {
                "name": name,
                "type": "webhook",
                "url": f"{webhook_url.rstrip('/')}/{name}",
                "secret": WEBHOOK_SECRET,
            }
            for name in destinations
        ],
    }
    if kafka is not None:
        config["kafka"] = dict(kafka)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


class Rig(NamedTuple):
    feeds: StoryFeeds
    hook: WebhookReceiver
    supervisor: Supervisor
    config: Path


@contextmanager
def pipeline_rig(
    config_path: Path,
    *,
    feeds: int,
    kafka: Mapping[str, Any] | None,
    restart_delay: float = 1.0,
    **options: Any,
) -> Iterator[Rig]:
    """`feeds` story feeds on a local feed server, a signed webhook receiver and a supervisor,
    with a config at `config_path` aimed at them (`write_config`, given `kafka` and `options`).
    Leaving the block stops the supervisor's processes, then the receiver and the server."""
    with (
        FeedServer() as server,
        WebhookReceiver(WEBHOOK_SECRET) as hook,
        Supervisor(restart_delay) as supervisor,
    ):
        story_feeds = StoryFeeds(server, feeds)
        config = write_config(
            config_path, feeds=story_feeds.urls, webhook_url=hook.url, kafka=kafka, **options
        )
        yield Rig(story_feeds, hook, supervisor, config)


# --- what reached the receiver ---------------------------------------------------------------


def alert_key(request: Received) -> tuple[str, str]:
    """(title, destination) of the alert a webhook request carried."""
    data = request.json()["data"]
    return data["article"]["title"], data["destination"]


@dataclass(frozen=True)
class Tally:
    expected: int
    delivered: int  # expected alerts that arrived (accepted) at least once
    repeated: int  # accepted arrivals beyond the first with the same webhook-id
    missing: list[tuple[str, str]] = field(default_factory=list)
    unexpected: list[tuple[str, str]] = field(default_factory=list)
    unverified: int = 0  # requests whose signature did not verify

    def counts(self) -> dict[str, int]:
        figures = asdict(self)
        for name in ("missing", "unexpected"):
            figures[name] = len(figures[name])
        return figures


def tally(hook: WebhookReceiver, expected: set[tuple[str, str]]) -> Tally:
    accepted = [r for r in list(hook.received) if 200 <= r.status < 300]
    ids = Counter(r.headers.get("webhook-id", "") for r in accepted)
    keys = {alert_key(r) for r in accepted}
    return Tally(
        expected=len(expected),
        delivered=len(expected & keys),
        repeated=sum(n - 1 for n in ids.values()),
        missing=sorted(expected - keys),
        unexpected=sorted(keys - expected),
        unverified=sum(1 for r in list(hook.received) if r.verified is not True),
    )


def wait_delivered(
    hook: WebhookReceiver,
    expected: set[tuple[str, str]],
    within: float,
    *,
    quiet: float = 2.0,
    supervisor: Supervisor | None = None,
) -> Tally:
    """Wait until every expected alert arrived (or `within` passed), then `quiet` more seconds
    so that late repeats are counted too. With a `supervisor`, fail early when one of its
    unrestarted stages dies."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and tally(hook, expected).missing:
        if supervisor is not None:
            supervisor.check()
        time.sleep(0.2)
    time.sleep(quiet)
    return tally(hook, expected)


def first_arrivals(hook: WebhookReceiver) -> dict[tuple[str, str], float]:
    """When each alert was first accepted (time.monotonic())."""
    arrivals: dict[tuple[str, str], float] = {}
    for request in list(hook.received):
        if 200 <= request.status < 300:
            arrivals.setdefault(alert_key(request), request.at)
    return arrivals


def wait_until(condition: Any, within: float, what: str, interval: float = 0.2) -> None:
    """Poll `condition()` until it is true; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        time.sleep(interval)


# --- reporting -------------------------------------------------------------------------------


def report(capsys: Any, scenario: str, **figures: Any) -> None:
    """Show a scenario's figures in the pytest output even when it passes (and append them to
    $NEWSALERT_KAFKA_REPORT when set), since the counts are part of what the suite reports."""
    line = json.dumps({"scenario": scenario, **figures}, sort_keys=False)
    with capsys.disabled():
        print(f"\n[kafka-report] {line}")
    target = os.environ.get("NEWSALERT_KAFKA_REPORT")
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(line + "\n")
