"""A state directory that fills up or turns read-only, through the real `newsalert` command:
the process ends with one sentence, the SQLite file stays whole, and a restart recovers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import WEBHOOK_SECRET, run_cli
from tests.support.feed_server import FeedServer, Reply
from tests.support.receivers import WebhookReceiver
from tests.support.sample_feeds import Item, rss
from tests.support.service_run import (
    STORIES,
    Service,
    fault_config,
    tally_titles,
    webhook_entry,
)


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


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
        config = fault_config(
            tmp_path, url, [webhook_entry("hook", hook.url)], state_dir=disk / "state"
        )
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
        tally = tally_titles(hook, {s.title for s in STORIES[:2] + fresh})
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
        config = fault_config(
            tmp_path, url, [webhook_entry("hook", hook.url)], state_dir=small_disk / "state"
        )
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
        tally = tally_titles(hook, {s.title for s in STORIES[:2] + fresh})
    assert tally == {"expected": 32, "delivered": 32, "repeated": 0, "lost": 0, "unexpected": 0}


def _remount(disk: Path, mode: str) -> None:
    mount = shutil.which("mount") or "mount"
    subprocess.run([mount, "-o", f"remount,{mode}", str(disk)], check=True)  # noqa: S603


def test_unwritable_state_dir_is_one_sentence(tmp_path: Path, small_disk: Path) -> None:
    """The state directory cannot even be created (read-only mount): `run` ends, one sentence."""
    config = fault_config(tmp_path, "http://127.0.0.1:9/wire", [webhook_entry("hook", "http://127.0.0.1:9/")],
                     state_dir=small_disk / "state")  # fmt: skip
    _remount(small_disk, "ro")
    try:
        result = run_cli("run", "-c", str(config), timeout=20)
    except subprocess.TimeoutExpired:
        raise AssertionError("the service kept running without a usable store") from None
    assert result.returncode != 0
    _assert_one_sentence(result.stderr, str(small_disk / "state"))
