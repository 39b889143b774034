"""Faults around the service, through the real `newsalert` command: destinations that go down,
rate-limit, fail forever or hang; a state directory that fills up or turns read-only.

Every test counts alerts by the webhook-id / title the receivers saw: expected, delivered,
repeated (same id twice) and lost (never delivered).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

import pytest

from tests.support.cli import NEWSALERT, WEBHOOK_SECRET, run_cli
from tests.support.feed_server import FeedServer, Reply
from tests.support.receivers import Reply as Answer
from tests.support.receivers import (
    SlackReceiver,
    WebhookReceiver,
    _handler_for,
    _Server,
    slack_rate_limited,
)
from tests.support.sample_feeds import Item, rss

STORIES = [Item(f"s{i}", f"China story number {i}", hours_ago=i + 1) for i in range(4)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FixedPortWebhook(WebhookReceiver):
    """A webhook receiver on a port chosen in advance, so it can be down, then come back."""

    def __init__(self, port: int, secret: str) -> None:
        super().__init__(secret)
        self.port = port

    def start(self) -> Self:
        server = _Server(("127.0.0.1", self.port), _handler_for(self))
        self._server = server
        self._url = f"http://127.0.0.1:{self.port}{self.path}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self


def _config(
    tmp_path: Path,
    feed_url: str,
    destinations: list[str],
    *,
    state_dir: Path | None = None,
    delivery: str = "{max_attempts: 50, initial_backoff: 200ms, max_backoff: 1s, timeout: 2s}",
) -> Path:
    names = [d.split(",")[0].split(":")[1].strip() for d in destinations]
    text = textwrap.dedent(
        f"""\
        state_dir: {state_dir or tmp_path / "state"}
        health: {{port: 0}}
        logging: {{format: json}}
        network: {{allow_private: true}}
        polling: {{interval: 1s, backfill: all, max_backoff: 2s}}
        delivery: {delivery}
        feeds: [{{name: wire, url: '{feed_url}'}}]
        watchlists: [{{name: china, query: China, destinations: [{", ".join(names)}]}}]
        destinations:
        """
    ) + "".join(f"  - {d}\n" for d in destinations)
    path = tmp_path / "newsalert.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _hook(name: str, url: str) -> str:
    return f"{{name: {name}, type: webhook, url: '{url}', secret: '{WEBHOOK_SECRET}'}}"


def _events(path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("{")
    ]


def _count(path: Path, event: str) -> int:
    return sum(1 for e in _events(path) if e.get("event") == event)


def _wait(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {within}s")
        time.sleep(0.1)


class Service:
    """`newsalert run` in the background, stderr in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self._file = log.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - our own console script
            [NEWSALERT, "run", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=self._file,
        )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._file.close()
        return self.proc.returncode


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def _tally(hook: WebhookReceiver, expected: set[str]) -> dict[str, int]:
    """Alerts counted by title: expected, delivered, repeated (same id again), lost."""
    ok = [r for r in hook.received if 200 <= r.status < 300]
    titles = [r.json()["data"]["article"]["title"] for r in ok]
    ids = [r.headers["webhook-id"] for r in ok]
    return {
        "expected": len(expected),
        "delivered": len(set(titles) & expected),
        "repeated": len(ids) - len(set(ids)),
        "lost": len(expected - set(titles)),
        "unexpected": len(set(titles) - expected),
    }


# --- destinations --------------------------------------------------------------------------


@pytest.mark.slow
def test_destination_down_then_back_delivers_everything_once(
    tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.route("/wire", Reply(body=rss(STORIES[:3])))
    port = _free_port()
    hook = FixedPortWebhook(port, WEBHOOK_SECRET)
    config = _config(tmp_path, url, [_hook("hook", f"http://127.0.0.1:{port}/hooks/newsalert")])
    service = Service(config, tmp_path / "stderr.log")
    try:
        # Down: connection refused, retried with backoff, several times.
        _wait(lambda: _count(service.log, "alert_delivery_failed") >= 4, 15, "retries")
        feeds.route("/wire", Reply(body=rss(STORIES)))  # a new story while it is down
        time.sleep(1.5)
        assert hook.received == []
        with hook:
            hook.wait(4, within=15)
            time.sleep(1.5)  # room for any repeat to show up
        failures = _count(service.log, "alert_delivery_failed")
    finally:
        assert service.stop() == 0
    tally = _tally(hook, {s.title for s in STORIES})
    assert tally == {"expected": 4, "delivered": 4, "repeated": 0, "lost": 0, "unexpected": 0}
    assert all(r.verified for r in hook.received)
    assert failures >= 4
    assert _count(service.log, "alert_dead_lettered") == 0


def test_429_retry_after_is_honoured_and_the_rate_never_exceeded(
    tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.route("/wire", Reply(body=rss(STORIES)))
    with SlackReceiver() as slack:
        slack.script([Answer(200, "ok"), slack_rate_limited(2)])
        config = _config(
            tmp_path,
            url,
            [f"{{name: slack, type: slack, url: '{slack.url}'}}"],
            delivery="{max_attempts: 5, initial_backoff: 200ms, max_backoff: 10s, timeout: 2s}",
        )
        result = run_cli("run", "--once", "-c", str(config))
        assert result.returncode == 0, result.stderr
    got = slack.received
    assert [r.status for r in got] == [200, 429, 200, 200, 200]
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    # Slack's one message a second per webhook is kept throughout...
    assert min(gaps) >= 0.95, gaps
    # ...the 429's Retry-After: 2 is waited out, and not much longer.
    assert 1.95 <= gaps[1] < 3.5, gaps
    delivered = [r.json()["blocks"][0]["text"]["text"] for r in got if r.status == 200]
    assert sorted(delivered) == sorted(s.title for s in STORIES)


def test_retry_after_beyond_the_policy_dead_letters_instead_of_waiting(
    tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.route("/wire", Reply(body=rss(STORIES[:1])))
    with SlackReceiver() as slack:
        slack.script([slack_rate_limited(3600)])
        config = _config(tmp_path, url, [f"{{name: slack, type: slack, url: '{slack.url}'}}"])
        started = time.monotonic()
        result = run_cli("run", "--once", "-c", str(config))
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 15
        assert len(slack.received) == 1
    listed = run_cli("dlq", "list", "--json", "-c", str(config))
    [letter] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert "429" in letter["error"]


def test_retry_after_is_honoured_for_the_next_alert_even_when_one_is_dead_lettered(
    tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.route("/wire", Reply(body=rss(STORIES[:2])))
    with SlackReceiver() as slack:
        slack.script([slack_rate_limited(3)])
        config = _config(tmp_path, url, [f"{{name: slack, type: slack, url: '{slack.url}'}}"])
        assert run_cli("run", "--once", "-c", str(config)).returncode == 0
    first, second = slack.received
    assert second.at - first.at >= 2.95


def test_500_forever_dead_letters_then_replay_delivers_once(
    tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.route("/wire", Reply(body=rss(STORIES[:3])))
    with WebhookReceiver(WEBHOOK_SECRET) as hook:
        hook.default_reply = Answer(500, "<html>upstream error</html>")
        config = _config(
            tmp_path,
            url,
            [_hook("hook", hook.url)],
            delivery="{max_attempts: 3, initial_backoff: 100ms, max_backoff: 300ms, timeout: 2s}",
        )
        assert run_cli("run", "--once", "-c", str(config)).returncode == 0
        assert len(hook.received) == 9  # 3 alerts x max_attempts, then no more
        listed = run_cli("dlq", "list", "--json", "-c", str(config))
        letters = [json.loads(line) for line in listed.stdout.splitlines()]
        assert sorted(x["title"] for x in letters) == sorted(s.title for s in STORIES[:3])
        assert {x["attempts"] for x in letters} == {3}
        assert all("HTTP 500" in x["error"] for x in letters)

        hook.default_reply = Answer(204, "")  # the destination is back
        one = letters[0]["id"]
        assert "1 dead letters" in run_cli("dlq", "replay", one, "-c", str(config)).stdout
        assert run_cli("run", "--once", "-c", str(config)).returncode == 0
        assert [r.headers["webhook-id"] for r in hook.received[9:]] == [one]
        assert "2 dead letters" in run_cli("dlq", "replay", "-c", str(config)).stdout
        assert run_cli("run", "--once", "-c", str(config)).returncode == 0
        assert run_cli("dlq", "list", "--json", "-c", str(config)).stdout == ""
        hook.received[:] = hook.received[9:]
        tally = _tally(hook, {s.title for s in STORIES[:3]})
    assert tally == {"expected": 3, "delivered": 3, "repeated": 0, "lost": 0, "unexpected": 0}


def test_hanging_destination_times_out_without_holding_up_the_others(
    tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.route("/wire", Reply(body=rss(STORIES[:2])))
    with WebhookReceiver(WEBHOOK_SECRET) as hung, WebhookReceiver(WEBHOOK_SECRET) as fine:
        hung.default_reply = Answer(204, "", delay=60)  # accepts, never answers in time
        config = _config(
            tmp_path,
            url,
            [_hook("hung", hung.url), _hook("fine", fine.url)],
            delivery="{max_attempts: 2, initial_backoff: 100ms, max_backoff: 300ms, timeout: 1s}",
        )
        started = time.monotonic()
        result = run_cli("run", "--once", "-c", str(config))
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert elapsed < 15  # 2 alerts x 2 attempts x 1 s, plus start-up
        # The healthy destination got both at once, not after the hung one's timeouts.
        assert len(fine.received) == 2
        assert fine.received[-1].at - started < 4
        assert len(hung.received) == 4
    listed = run_cli("dlq", "list", "--json", "-c", str(config))
    letters = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(letters) == 2 and all(x["destination"] == "hung" for x in letters)
    assert all("did not answer within 1s" in x["error"] for x in letters)


# --- the state directory -------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs as the state directory. As root a plain directory is never read-only or
    full, so the disk cases need a real mount: root and mount rights (CI's container has both).
    Under CI they fail rather than skip when it cannot mount."""
    mount = tmp_path / "disk"
    mount.mkdir()
    tool = shutil.which("mount")
    if os.geteuid() != 0 or tool is None:
        _cannot("needs root and mount(8) to mount a small tmpfs as the state directory")
    assert tool is not None
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [tool, "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        _cannot(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run([tool, "-o", "remount,rw", str(mount)], check=False)  # noqa: S603
        unmounted = subprocess.run(  # noqa: S603 - fixed arguments
            [shutil.which("umount") or "umount", str(mount)], capture_output=True, check=False
        )
        assert unmounted.returncode == 0, unmounted.stderr


def _cannot(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the disk fault tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _assert_one_sentence(stderr: str, *fragments: str) -> None:
    """ALL of stderr: JSON log lines without an exception, then exactly one plain line, last,
    the sentence for the supervisor. A raw traceback (or any other plain text) fails this."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    plain = [i for i, line in enumerate(lines) if not _is_json(line)]
    assert plain == [len(lines) - 1], f"expected one sentence, last; got:\n{stderr[-3000:]}"
    sentence = lines[-1]
    assert sentence.startswith("newsalert: "), sentence
    for fragment in fragments:
        assert fragment in sentence, (fragment, sentence)
    for line in lines[:-1]:
        event = json.loads(line)
        assert "exception" not in event and "exc_info" not in event, line


def _is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _fill(disk: Path) -> Path:
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as handle, contextlib.suppress(OSError):  # full: the point
        handle.write(b"\0" * (stat.f_bavail * stat.f_frsize))
    return filler


def _integrity(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def _storage_fault(
    tmp_path: Path,
    feeds: FeedServer,
    disk: Path,
    break_disk: Callable[[], None],
    mend_disk: Callable[[], None],
    message: str,
) -> dict[str, Any]:
    url = feeds.route("/wire", Reply(body=rss(STORIES[:2])))
    with WebhookReceiver(WEBHOOK_SECRET) as hook:
        config = _config(tmp_path, url, [_hook("hook", hook.url)], state_dir=disk / "state")
        service = Service(config, tmp_path / "stderr.log")
        try:
            hook.wait(2, within=15)
            break_disk()
            # New stories arrive while nothing can be written.
            fresh = [Item(f"n{i}", f"China later story {i}", hours_ago=0.01) for i in range(30)]
            feeds.route("/wire", Reply(body=rss(fresh + STORIES[:2])))
            try:
                service.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                raise AssertionError("the service kept running with a broken disk") from None
        finally:
            code = service.stop()
        stderr = service.log.read_text(encoding="utf-8")
        assert _integrity(disk / "state" / "newsalert.db") == "ok"
        mend_disk()
        # Recovery: the next start (what a supervisor does) catches up on everything.
        result = run_cli("run", "--once", "-c", str(config))
        assert result.returncode == 0, result.stderr
        assert _integrity(disk / "state" / "newsalert.db") == "ok"
        tally = _tally(hook, {s.title for s in STORIES[:2] + fresh})
    return {"tally": tally, "exit": code, "stderr": stderr}


def test_full_disk_is_reported_nothing_is_corrupted_and_the_service_recovers(
    tmp_path: Path, feeds: FeedServer, small_disk: Path
) -> None:
    filler: list[Path] = []
    outcome = _storage_fault(
        tmp_path,
        feeds,
        small_disk,
        lambda: filler.append(_fill(small_disk)),
        lambda: filler[0].unlink(),
        "database or disk is full",
    )
    tally = outcome["tally"]
    assert tally["lost"] == 0 and tally["unexpected"] == 0
    assert tally["delivered"] == tally["expected"] == 32
    assert tally["repeated"] <= 1  # at most the one in flight, sent again with the same id
    # The process ended by itself, non-zero, saying so in one sentence naming the store.
    assert outcome["exit"] != 0
    _assert_one_sentence(
        outcome["stderr"], "database or disk is full", str(small_disk / "state" / "newsalert.db")
    )


def test_read_only_state_dir_ends_the_service_then_recovers(
    tmp_path: Path, feeds: FeedServer, small_disk: Path
) -> None:
    """A volume remounted read-only (Linux does that after disk errors) while stopped.

    A live remount is refused while the service holds the database open for writing, so the
    read-only state directory is met at the next start: `newsalert run` (the long-running
    service, not `--once`) must end by itself, non-zero, with one sentence.
    """
    url = feeds.route("/wire", Reply(body=rss(STORIES[:2])))
    with WebhookReceiver(WEBHOOK_SECRET) as hook:
        config = _config(tmp_path, url, [_hook("hook", hook.url)], state_dir=small_disk / "state")
        assert run_cli("run", "--once", "-c", str(config)).returncode == 0
        assert len(hook.received) == 2
        fresh = [Item(f"n{i}", f"China later story {i}", hours_ago=0.01) for i in range(30)]
        feeds.route("/wire", Reply(body=rss(fresh + STORIES[:2])))
        _remount(small_disk, "ro")
        try:
            broken = run_cli("run", "-c", str(config), timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("the service kept running on a read-only store") from None
        assert broken.returncode != 0
        _assert_one_sentence(broken.stderr, str(small_disk / "state" / "newsalert.db"))
        assert len(hook.received) == 2  # nothing sent that could not be recorded
        _remount(small_disk, "rw")
        assert _integrity(small_disk / "state" / "newsalert.db") == "ok"
        assert run_cli("run", "--once", "-c", str(config)).returncode == 0
        tally = _tally(hook, {s.title for s in STORIES[:2] + fresh})
    assert tally == {"expected": 32, "delivered": 32, "repeated": 0, "lost": 0, "unexpected": 0}


def _remount(disk: Path, mode: str) -> None:
    mount = shutil.which("mount") or "mount"
    subprocess.run([mount, "-o", f"remount,{mode}", str(disk)], check=True)  # noqa: S603


def test_unwritable_state_dir_is_one_sentence(tmp_path: Path, small_disk: Path) -> None:
    """The state directory cannot even be created (read-only mount): `run` ends, one sentence."""
    config = _config(tmp_path, "http://127.0.0.1:9/wire", [_hook("hook", "http://127.0.0.1:9/")],
                     state_dir=small_disk / "state")  # fmt: skip
    _remount(small_disk, "ro")
    try:
        result = run_cli("run", "-c", str(config), timeout=20)
    except subprocess.TimeoutExpired:
        raise AssertionError("the service kept running without a usable store") from None
    assert result.returncode != 0
    _assert_one_sentence(result.stderr, str(small_disk / "state"))
