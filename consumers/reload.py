"""Live reload of the watchlists: recompile on a config edit (or SIGHUP) and swap atomically.

`MatcherHolder` owns the running `Rules` (matcher, routes, version). The matcher stage reads
`holder.current` once per article (or per batch) and uses that one object throughout, so
every article is matched entirely by one version: a swap never drops an article, never
matches one twice, and never mixes old and new watchlists. Reloading touches no bus and no
store; it only replaces that reference.

An edit that does not validate keeps the running rules. The holder remembers the error
(`last_error`, `failures`, `status()` for /readyz and metrics) and logs one
`watchlists_reload_failed` event whose lines name the file, the watchlist and the column.

Only `watchlists:` is reloaded. Feeds, destinations and the other sections need a restart;
a reloaded watchlist may only route to destinations the running process has.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import structlog

from consumers.gc_policy import collector_paused, compile_matcher
from consumers.matching import Concepts, Matcher, Node, WatchlistError
from service.errors import ConfigError
from service.settings import WatchlistConfig, load_settings

log = structlog.get_logger(__name__)


class Rules(NamedTuple):
    """One compiled version of the watchlists; never changed once built."""

    matcher: Matcher
    routes: Mapping[str, tuple[str, ...]]  # watchlist name -> destination names
    version: int
    loaded_at: datetime


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload attempt did. `errors` holds one line per problem when it failed."""

    ok: bool
    changed: bool  # a new version is running
    version: int  # the version running after the attempt
    errors: tuple[str, ...] = ()


class MatcherHolder:
    """The running watchlists, swapped as a whole by `reload_from`."""

    def __init__(
        self,
        watchlists: Sequence[WatchlistConfig],
        *,
        concepts: Concepts | None = None,
        destinations: Collection[str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        parsed: Mapping[str, Node] | None = None,
    ) -> None:
        """Compile `watchlists` (raises WatchlistError if one is invalid: a startup error).

        `destinations`: the destination names the running process has; a reload routing a
        watchlist elsewhere is refused. None accepts any. `parsed`: the queries' trees by
        text, when the config check parsed them already.
        """
        self._destinations = None if destinations is None else frozenset(destinations)
        self._clock = clock
        self._lock = threading.Lock()  # one reload at a time; readers never take it
        concepts = concepts or {}
        self._key = _key(watchlists, concepts)
        self._current = _build(watchlists, concepts, 1, clock(), parsed)
        self.fingerprint: str | None = None  # sha256 of the file content last loaded
        self.last_error: str | None = None
        self.failures = 0

    @property
    def current(self) -> Rules:
        """The running rules. Read it once per article and use that object throughout."""
        return self._current

    @property
    def version(self) -> int:
        return self._current.version

    @property
    def loaded_at(self) -> datetime:
        return self._current.loaded_at

    def reload_from(self, path: Path, environ: Mapping[str, str] | None = None) -> ReloadOutcome:
        """Validate the config at `path` and run its watchlists; on error keep the old ones.

        Blocking (compiling 100,000 watchlists takes seconds): from async code, call it via
        `asyncio.to_thread`, as `watch_config` does.
        """
        with self._lock:
            try:
                content = path.read_bytes()
            except OSError as exc:
                return self._fail([f"{path}: cannot read config file: {exc.strerror}"])
            fingerprint = hashlib.sha256(content).hexdigest()
            try:
                with collector_paused():  # a large config is millions of objects, no cycles
                    settings = load_settings(path, os.environ if environ is None else environ)
            except ConfigError as exc:
                return self._fail(exc.problems)
            problems = self._unknown_destinations(path, settings.watchlists)
            if problems:
                return self._fail(problems)
            self.fingerprint = fingerprint
            key = _key(settings.watchlists, settings.concepts)
            if key == self._key:
                self._recovered()
                return ReloadOutcome(ok=True, changed=False, version=self.version)
            started = time.perf_counter()
            try:
                rules = _build(
                    settings.watchlists, settings.concepts, self.version + 1, self._clock()
                )
            except (
                WatchlistError
            ) as exc:  # a bad query is reported here, naming watchlist and column
                return self._fail([f"{path}: {exc}"])
            self._current, self._key = rules, key  # the swap: one reference assignment
            self._recovered()
            log.info(
                "watchlists_reloaded",
                version=rules.version,
                watchlists=len(settings.watchlists),
                compile_s=round(time.perf_counter() - started, 3),
            )
            return ReloadOutcome(ok=True, changed=True, version=rules.version)

    def status(self) -> dict[str, object]:
        """Details for /readyz and metrics: what runs, since when, and the last failure."""
        return {
            "version": self.version,
            "loaded_at": self.loaded_at.isoformat(),
            "watchlists": len(self._current.routes),
            "reload_failures": self.failures,
            "last_error": self.last_error,
        }

    def _unknown_destinations(self, path: Path, watchlists: Sequence[WatchlistConfig]) -> list[str]:
        if self._destinations is None:
            return []
        return [
            f"{path}: watchlists.{i}.destinations: watchlist '{w.name}' names destination "
            f"'{d}', which the running process does not have (restart to add destinations)"
            for i, w in enumerate(watchlists)
            for d in w.destinations
            if d not in self._destinations
        ]

    def _fail(self, problems: Sequence[str]) -> ReloadOutcome:
        self.failures += 1
        self.last_error = "\n".join(problems)
        log.error(
            "watchlists_reload_failed",
            version_kept=self.version,
            problems=list(problems),
        )
        return ReloadOutcome(ok=False, changed=False, version=self.version, errors=tuple(problems))

    def _recovered(self) -> None:
        self.last_error = None


def _key(watchlists: Sequence[WatchlistConfig], concepts: Concepts) -> tuple[object, ...]:
    """What the running rules depend on: a reload that changes none of it changes nothing."""
    rules = tuple((w.name, w.query, tuple(w.destinations)) for w in watchlists)
    return rules, tuple(sorted((k, tuple(v)) for k, v in concepts.items()))


def _build(
    watchlists: Sequence[WatchlistConfig],
    concepts: Concepts,
    version: int,
    now: datetime,
    parsed: Mapping[str, Node] | None = None,
) -> Rules:
    matcher = compile_matcher([(w.name, w.query) for w in watchlists], concepts, parsed=parsed)
    routes = {w.name: tuple(w.destinations) for w in watchlists}
    return Rules(matcher, routes, version, now)


def file_signature(path: Path) -> tuple[int, int] | None:
    """(mtime in ns, size), or None when the file cannot be read right now."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def file_fingerprint(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


async def watch_config(
    path: Path,
    holder: MatcherHolder,
    stop: asyncio.Event,
    *,
    interval: float = 1.0,
    wake: asyncio.Event | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Reload `holder` from `path` whenever the file's content changes, until `stop` is set.

    Polls the file's mtime and size every `interval` seconds (no new dependency, works on
    every filesystem and with editors that replace the file); a changed signature is
    confirmed by a content hash, and reloading waits until the signature holds still for a
    moment so a half-written file is not loaded. It starts by loading the file once unless
    the holder already did (`fingerprint`), so an edit made during startup is not missed.
    Setting `wake` (from a SIGHUP handler:
    `loop.add_signal_handler(signal.SIGHUP, wake.set)`) reloads at once, changed or not.
    """
    settle = min(interval, 0.2)
    signature = file_signature(path)
    if holder.fingerprint is None:
        # The holder was built from settings read earlier; the file may have changed since.
        # Reloading costs only a comparison when the watchlists are the same.
        await asyncio.to_thread(holder.reload_from, path, environ)
    seen = holder.fingerprint or file_fingerprint(path)
    waiters = [stop] if wake is None else [stop, wake]
    while not stop.is_set():
        await _first_of(waiters, interval)
        if stop.is_set():
            return
        forced = wake is not None and wake.is_set()
        if wake is not None:
            wake.clear()
        now = file_signature(path)
        if not forced and now == signature:
            continue
        await asyncio.sleep(settle)
        if not forced and file_signature(path) != now:
            continue  # still being written; look again next round
        signature = file_signature(path)
        fingerprint = file_fingerprint(path)
        if not forced and fingerprint == seen:
            continue  # touched, not changed
        outcome = await asyncio.to_thread(holder.reload_from, path, environ)
        # A failed edit is not retried until the file changes again (one error per edit).
        seen = fingerprint
        log.debug("watchlists_checked", ok=outcome.ok, changed=outcome.changed, forced=forced)


async def _first_of(events: Sequence[asyncio.Event], timeout: float) -> None:
    """Return when one of `events` is set or `timeout` seconds have passed."""
    tasks = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
