"""newsalert's roles as OS processes that tests start, stop, kill and restart.

- `Stage`: one `newsalert <role> -c CFG` subprocess that can be stopped with SIGTERM, killed
  with SIGKILL and started again; its output (JSON log lines) is appended, across restarts, to
  `<log_dir>/<name>.log`, so a failing test can show what each process said.
- `Supervisor`: starts stages and restarts any that exits without being asked to, as a
  container orchestrator would; leaving its `with` block stops everything it started.

Synchronous and thread-based, so the Kafka and container tests and the benches share it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.support.cli import NEWSALERT

ROLES = ("poller", "matcher", "notifier", "run")
# A stage that exits sooner than this after starting counts as crash-looping.
QUICK_EXIT_S = 10.0


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
