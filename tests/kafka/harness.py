"""Run newsalert's stages as OS processes against a real broker, and feed them stories.

- `Stage`: one `newsalert <role> -c CFG` subprocess that can be stopped with SIGTERM, killed
  with SIGKILL and started again; its output (JSON log lines) is appended, across restarts, to
  `<log_dir>/<name>.log`, so a failing test can show what each process said.
- `Supervisor`: starts stages and restarts any that exits without being asked to, as a
  container orchestrator would; leaving its `with` block stops everything it started.
- `StoryFeeds` and `Stream`: N feeds on a `FeedServer` whose items appear over time, recording
  when each story appeared and which poller (by User-Agent) fetched which feed when.
- `tally` and `wait_delivered`: what reached a `WebhookReceiver`, against what was expected.

Everything here is synchronous and thread-based, so tests and bench/kafka_latency.py share it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self
from xml.sax.saxutils import escape

import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.feedserver import FeedServer, ReceivedRequest, Reply
from tests.integration.receivers import Received, WebhookReceiver

NEWSALERT = str(Path(sys.executable).with_name("newsalert"))
WEBHOOK_SECRET = "whsec_dGVzdC1zZWNyZXQtZm9yLWthZmthLXRlc3Rz"
ROLES = ("poller", "matcher", "notifier", "run")
# A stage that exits sooner than this after starting counts as crash-looping.
QUICK_EXIT_S = 10.0
# Stories whose title carries this word match the one watchlist every config here has.
MATCH_WORD = "China"


# --- configuration ---------------------------------------------------------------------------


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
        # The harness's stories differ only by number and feed ("China story 00001 on f01"),
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


# --- processes -------------------------------------------------------------------------------


class Stage:
    """One `newsalert ROLE -c CONFIG` process, restartable; see the module docstring."""

    def __init__(
        self,
        role: str,
        config: Path,
        log_dir: Path,
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        self.role = role
        self.config = config
        self.name = name or role
        self.log_path = log_dir / f"{self.name}.log"
        self.env = {**os.environ, **(env or {})}
        self.starts = 0
        self.started_at = 0.0  # time.monotonic() of the latest start
        self.exit_codes: list[int] = []  # every exit, in order (-9 for SIGKILL)
        self._proc: subprocess.Popen[bytes] | None = None
        self._reaped = True
        self._lock = threading.RLock()

    def start(self) -> Self:
        with self._lock:
            if self.running:
                raise RuntimeError(f"{self.name} is already running")
            self.starts += 1
            self.started_at = time.monotonic()
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as log:
                log.write(f"--- harness: start #{self.starts} of {self.name} ---\n".encode())
                log.flush()
                self._proc = subprocess.Popen(  # noqa: S603 - our own console script
                    [NEWSALERT, self.role, "-c", str(self.config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                )
            self._reaped = False
            return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self.poll() is None and self._proc is not None

    def poll(self) -> int | None:
        """The exit code of the current process, or None while it runs (or was never started)."""
        with self._lock:
            if self._proc is None:
                return None
            code = self._proc.poll()
            if code is not None:
                self._record(code)
            return code

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then wait: the exit code, or None when it had to be killed after `timeout`."""
        with self._lock:
            proc = self._proc
        if proc is None or proc.poll() is not None:
            return self.poll()
        proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int | None:
        """Wait for the process to exit: its code, or None when it had to be killed."""
        with self._lock:
            proc = self._proc
        if proc is None:
            return None
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        with self._lock:
            self._record(code)
        return code

    def kill(self) -> int:
        """kill -9, as a crash or the OOM killer would."""
        with self._lock:
            proc = self._proc
        if proc is None:
            raise RuntimeError(f"{self.name} was never started")
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        code = proc.wait(10)
        with self._lock:
            self._record(code)
        return code

    def restart(self, timeout: float = 20.0) -> Self:
        self.stop(timeout)
        return self.start()

    def _record(self, code: int) -> None:
        if not self._reaped:
            self._reaped = True
            self.exit_codes.append(code)

    # -- what it said ------------------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def events(self) -> list[dict[str, Any]]:
        """Its JSON log lines, parsed (other lines, such as tracebacks, are left out)."""
        events = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue
        return events

    def count(self, event: str) -> int:
        """How many times it logged `event` (for reports; tests assert on what users see)."""
        return sum(1 for e in self.events() if e.get("event") == event)

    def tail(self, lines: int = 15) -> str:
        text = "\n".join(self.log_text().splitlines()[-lines:])
        return f"--- {self.name} (exits {self.exit_codes}) {self.log_path}:\n{text}"


class Supervisor:
    """Starts stages and restarts, after `restart_delay`, any that exits on its own; a stage
    that keeps dying soon after starting waits longer each time (up to 4x), as orchestrators
    back off a crash loop.

    A stage stopped or killed through `stop`/`kill` with `restart=False` stays down; one killed
    with `restart=True` (the default for `kill`) comes back, like a crash under an orchestrator.
    """

    def __init__(self, restart_delay: float = 1.0) -> None:
        self.restart_delay = restart_delay
        self.stages: list[Stage] = []
        self.restarts: Counter[str] = Counter()
        self._watched: set[str] = set()
        self._expected_up: set[str] = set()  # started and not stopped or killed on purpose
        self._down_since: dict[str, float] = {}
        self._quick_exits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def start(self, stage: Stage, *, restart: bool = True) -> Stage:
        with self._lock:
            if stage not in self.stages:
                self.stages.append(stage)
            stage.start()
            self._expected_up.add(stage.name)
            if restart:
                self._watched.add(stage.name)
        return stage

    def stop(self, stage: Stage, timeout: float = 20.0) -> int | None:
        """SIGTERM the stage and keep it down; its exit code (None if it had to be killed)."""
        with self._lock:
            self._watched.discard(stage.name)
            self._expected_up.discard(stage.name)
            self._down_since.pop(stage.name, None)
        return stage.stop(timeout)

    def kill(self, stage: Stage, *, restart: bool = True) -> int:
        with self._lock:
            if not restart:
                self._watched.discard(stage.name)
                self._expected_up.discard(stage.name)
            code = stage.kill()
            self._down_since[stage.name] = time.monotonic()
        return code

    def stop_all(self, timeout: float = 20.0) -> dict[str, int | None]:
        """SIGTERM every running stage at once, then wait; exit codes by name (None: killed)."""
        with self._lock:
            self._watched.clear()
            self._expected_up.clear()
            self._down_since.clear()
            running = [s for s in self.stages if s.running]
        for stage in running:
            if stage.pid is not None:
                os.kill(stage.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        # Wait, do not signal again: a second SIGTERM during shutdown would kill the process.
        return {s.name: s.wait(max(0.1, deadline - time.monotonic())) for s in running}

    def shutdown(self) -> None:
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join()
        self.stop_all()

    def check(self) -> None:
        """Fail, with their logs, if stages that are not restarted have exited on their own."""
        with self._lock:
            dead = [
                s
                for s in self.stages
                if s.name in self._expected_up and s.name not in self._watched and not s.running
            ]
        if dead:
            names = ", ".join(f"{s.name} (exit {s.exit_codes[-1:]})" for s in dead)
            raise AssertionError(f"exited unexpectedly: {names}\n{self.tails()}")

    def tails(self, lines: int = 15) -> str:
        return "\n".join(stage.tail(lines) for stage in self.stages)

    def _watch(self) -> None:
        while not self._halt.wait(0.2):
            with self._lock:
                for stage in self.stages:
                    if stage.name not in self._watched or stage.poll() is None:
                        continue
                    now = time.monotonic()
                    if stage.name not in self._down_since:
                        self._down_since[stage.name] = now
                        quick = now - stage.started_at < QUICK_EXIT_S
                        self._quick_exits[stage.name] = (
                            self._quick_exits[stage.name] + 1 if quick else 0
                        )
                    delay = self.restart_delay * 2 ** min(self._quick_exits[stage.name], 2)
                    if now - self._down_since[stage.name] >= delay:
                        del self._down_since[stage.name]
                        self.restarts[stage.name] += 1
                        stage.start()


def pipeline_stages(
    config: Path, log_dir: Path, env: Mapping[str, str] | None = None
) -> tuple[Stage, Stage, Stage]:
    """The three roles as separate processes over one config: (poller, matcher, notifier)."""
    return (
        Stage("poller", config, log_dir, env=env),
        Stage("matcher", config, log_dir, env=env),
        Stage("notifier", config, log_dir, env=env),
    )


# --- feeds whose stories appear over time ----------------------------------------------------


@dataclass(frozen=True)
class Story:
    feed: str
    guid: str
    title: str
    matches: bool
    added_at: float  # time.monotonic() when the feed first served it


@dataclass(frozen=True)
class Fetch:
    feed: str
    agent: str  # the User-Agent header
    at: float  # time.monotonic()
    status: int


class StoryFeeds:
    """`count` RSS feeds named f00, f01, ... on `server`, newest story first, with ETags."""

    def __init__(self, server: FeedServer, count: int) -> None:
        self.names = [f"f{i:02d}" for i in range(count)]
        self.stories: list[Story] = []
        self.fetches: list[Fetch] = []
        self._items: dict[str, list[Story]] = {name: [] for name in self.names}
        self._bodies: dict[str, bytes] = {name: _rss(name, []) for name in self.names}
        self._next_feed = 0
        self._lock = threading.Lock()
        self.urls = {
            name: server.route(f"/feeds/{name}.xml", self._responder(name)) for name in self.names
        }

    def add(self, feed: str | None = None, *, matches: bool = True) -> Story:
        """Publish one new story (round robin over the feeds unless `feed` is given)."""
        with self._lock:
            if feed is None:
                feed = self.names[self._next_feed % len(self.names)]
                self._next_feed += 1
            number = len(self.stories)
            word = MATCH_WORD if matches else "Bakery"
            story = Story(
                feed=feed,
                guid=f"{feed}-story-{number:05d}",
                title=f"{word} story {number:05d} on {feed}",
                matches=matches,
                added_at=time.monotonic(),
            )
            self.stories.append(story)
            self._items[feed].insert(0, story)
            self._bodies[feed] = _rss(feed, self._items[feed])
            return story

    def expected(self, destinations: Iterable[str]) -> set[tuple[str, str]]:
        """(title, destination) of every alert the stories so far should produce."""
        with self._lock:
            stories = list(self.stories)
        return {(s.title, d) for s in stories if s.matches for d in destinations}

    def fetches_since(self, since: float = 0.0) -> list[Fetch]:
        with self._lock:
            return [f for f in self.fetches if f.at >= since]

    def _responder(self, feed: str) -> Any:
        def respond(request: ReceivedRequest) -> Reply:
            with self._lock:
                version = len(self._items[feed])
                body = self._bodies[feed]
                self.fetches.append(
                    Fetch(
                        feed=feed,
                        agent=request.headers.get("user-agent", ""),
                        at=time.monotonic(),
                        status=200,
                    )
                )
            etag = f'"{feed}-v{version}"'
            headers = {"ETag": etag, "Content-Type": "application/rss+xml"}
            if request.headers.get("if-none-match") == etag:
                return Reply(status=304, headers=headers)
            return Reply(body=body, headers=headers)

        return respond


def _rss(feed: str, stories: Sequence[Story]) -> bytes:
    items = "".join(
        f"<item><guid isPermaLink='false'>{escape(s.guid)}</guid><title>{escape(s.title)}</title>"
        f"<link>https://news.example.org/{escape(s.guid)}</link>"
        f"<description>Story text for {escape(s.guid)}.</description>"
        f"<pubDate>{format_datetime(datetime.now(UTC))}</pubDate></item>"
        for s in stories
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>Feed {feed}</title><link>https://news.example.org/{feed}</link>"
        f"<description>test feed</description>{items}</channel></rss>"
    ).encode()


class Stream:
    """Adds `total` stories round robin over `feeds` at `rate` per second, on a thread.

    Every `non_matching_every`-th story matches no watchlist (0: all of them match), so the
    matcher's filtering is part of what is checked.
    """

    def __init__(
        self, feeds: StoryFeeds, total: int, rate: float, non_matching_every: int = 3
    ) -> None:
        self.feeds = feeds
        self.total = total
        self.rate = rate
        self.non_matching_every = non_matching_every
        self.added = 0
        self._halt = threading.Event()
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="story-stream", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._halt.set()
        self._thread.join()

    def wait_added(self, count: int, within: float = 60.0) -> None:
        with self._progress:
            if not self._progress.wait_for(lambda: self.added >= count, within):
                raise AssertionError(f"only {self.added} of {count} stories added in {within}s")

    def join(self, within: float = 120.0) -> None:
        self.wait_added(self.total, within)

    def _run(self) -> None:
        began = time.monotonic()
        for n in range(self.total):
            # Pace against the start so a slow moment does not stretch the whole stream.
            if self._halt.wait(max(0.0, began + n / self.rate - time.monotonic())):
                return
            every = self.non_matching_every
            self.feeds.add(matches=not (every and n % every == every - 1))
            with self._progress:
                self.added = n + 1
                self._progress.notify_all()


# --- the setup every scenario shares ---------------------------------------------------------


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


# --- the broker, seen from outside -----------------------------------------------------------


def kafka_section(bootstrap: str, prefix: str, **extra: Any) -> dict[str, Any]:
    """The config's `kafka:` section for a test's own topics."""
    return {"bootstrap_servers": bootstrap, "topic_prefix": prefix, **extra}


async def read_topic(bootstrap: str, topic: str) -> list[tuple[str, bytes, int]]:
    """Every record now in `topic` as (key, value, partition), read without a consumer group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described.get("partitions", ())]
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[tuple[str, bytes, int]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in partitions]
            if all(pos >= ends[tp] for pos, tp in zip(positions, partitions, strict=True)):
                break
            batches = await consumer.getmany(timeout_ms=1000)
            for batch in batches.values():
                records += [(r.key.decode() if r.key else "", r.value, r.partition) for r in batch]
        return records
    finally:
        await consumer.stop()


def kafka_script_run(script: Path, *args: str, timeout: float = 300) -> tuple[int, str, str]:
    """Run scripts/kafka with `args`: (exit code, stdout, stderr)."""
    done = subprocess.run(  # noqa: S603 - our own script, fixed argv
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


async def list_topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


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
