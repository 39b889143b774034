"""Hostile and broken feeds, all served at once beside healthy ones to ONE `newsalert run`.

The process runs for as long as it takes every failing feed to fail three times in a row
(about 15 s). Meanwhile new stories appear on the healthy feeds and must be alerted within
seconds. Afterwards: its peak resident memory (VmHWM), what it logged, its /metrics, and what
the webhook received. Each case is then its own test over that one run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cli import NEWSALERT, WEBHOOK_SECRET
from tests.support.feed_server import FeedServer, Reply, gzip_zeros
from tests.support.hostile_feeds import CASES, FAILURES_SEEN, MAX_RSS_MB, MIB, RUN_DEADLINE, Case
from tests.support.receivers import WebhookReceiver
from tests.support.sample_feeds import Item, rss

pytestmark = pytest.mark.slow

HEALTHY = ("healthy-a", "healthy-b")


@dataclass
class Run:
    events: list[dict[str, Any]]
    metrics: str
    peak_rss_mb: float
    alerts: dict[str, list[dict[str, Any]]]  # by feed name
    on_time: dict[str, float]  # healthy feed -> seconds from publishing to alert
    first_outcome_s: dict[str, float]  # feed -> seconds from start to its first outcome
    requests: dict[str, int]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _events(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"event": "unparsed", "line": line})
    return out


def _config(tmp_path: Path, server: FeedServer, hook: WebhookReceiver, port: int) -> Path:
    feeds = "".join(
        f"  - {{name: {c.name}, url: '{server.url('/' + c.name)}'"
        + (", backfill: all" if c.backfill_all else "")
        + "}\n"
        for c in CASES
    ) + "".join(f"  - {{name: {h}, url: '{server.url('/' + h)}'}}\n" for h in HEALTHY)
    text = textwrap.dedent(
        f"""\
        state_dir: {tmp_path / "state"}
        health: {{host: 127.0.0.1, port: {port}}}
        logging: {{format: json}}
        network: {{allow_private: true}}
        polling: {{interval: 1s, backfill: none, timeout: 2s, max_backoff: 8s, per_host: 4}}
        # Every hostile feed carries the same test headline: as stories they would be one.
        stories: {{window: 0}}
        watchlists:
          - {{name: china, query: 'China OR Beijing', destinations: [hook]}}
        destinations:
          - {{name: hook, type: webhook, url: '{hook.url}', secret: '{WEBHOOK_SECRET}'}}
        feeds:
        """
    )
    path = tmp_path / "newsalert.yaml"
    path.write_text(text + feeds, encoding="utf-8")
    return path


def _outcomes(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        if e.get("event") in ("feed_polled", "feed_failed") and "feed" in e:
            out.setdefault(e["feed"], []).append(e)
    return out


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp_path = tmp_path_factory.mktemp("hostile")
    gzip_zeros(200 * MIB)  # build the bomb before the clock starts
    with FeedServer() as server, WebhookReceiver(WEBHOOK_SECRET) as hook:
        for case in CASES:
            server.route("/" + case.name, case.reply)
            for path, reply in case.routes.items():
                server.route(path, reply)
        for name in HEALTHY:
            server.route("/" + name, Reply(body=rss([Item(f"{name}-old", "China old news")])))
        port = _free_port()
        config = _config(tmp_path, server, hook, port)
        log_path = tmp_path / "stderr.log"
        started = time.monotonic()
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(  # noqa: S603 - our own console script
                [NEWSALERT, "run", "-c", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                env={**os.environ},
            )
            try:
                observed = _observe(proc, server, hook, port, log_path, started)
                _write_figures(observed)
                yield observed
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()


def _observe(
    proc: subprocess.Popen[bytes],
    server: FeedServer,
    hook: WebhookReceiver,
    port: int,
    log_path: Path,
    started: float,
) -> Run:
    names = [c.name for c in CASES] + list(HEALTHY)
    first: dict[str, float] = {}

    def poll_until(done: Callable[[dict[str, list[dict[str, Any]]]], bool], what: str) -> None:
        while time.monotonic() - started < RUN_DEADLINE:
            assert proc.poll() is None, f"newsalert exited early:\n{log_path.read_text()[-3000:]}"
            outcomes = _outcomes(_events(log_path))
            for name in outcomes:
                first.setdefault(name, time.monotonic() - started)
            if done(outcomes):
                return
            time.sleep(0.2)
        raise AssertionError(f"{what} within {RUN_DEADLINE}s")

    poll_until(lambda o: all(n in o for n in names), "every feed polled once")

    # New stories on the healthy feeds, while the hostile ones keep failing.
    published: dict[str, float] = {}
    for name in HEALTHY:
        fresh = Item(f"{name}-new", f"China breaking story on {name}", hours_ago=0.01)
        server.route("/" + name, Reply(body=rss([fresh, Item(f"{name}-old", "China old news")])))
        published[name] = time.monotonic()
    on_time: dict[str, float] = {}
    while len(on_time) < len(HEALTHY) and time.monotonic() - started < RUN_DEADLINE:
        for r in list(hook.received):
            title = r.json()["data"]["article"]["title"]
            for name in HEALTHY:
                if title == f"China breaking story on {name}" and name not in on_time:
                    on_time[name] = r.at - published[name]
        time.sleep(0.1)

    failing = [c.name for c in CASES if c.expect == "fail"]
    poll_until(
        lambda o: all(
            sum(e["event"] == "feed_failed" for e in o.get(n, [])) >= FAILURES_SEEN for n in failing
        ),
        f"every failing feed failed {FAILURES_SEEN} times",
    )
    peak = _peak_rss_mb(proc.pid)
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    alerts: dict[str, list[dict[str, Any]]] = {}
    for r in hook.received:
        data = r.json()["data"]
        alerts.setdefault(data["article"]["feed"]["name"], []).append(data)
    requests = {n: len(server.requests_to("/" + n)) for n in names}
    return Run(_events(log_path), metrics, peak, alerts, on_time, first, requests)


def _write_figures(run: Run) -> None:
    """With NEWSALERT_FIGURES=path, save the run's figures for docs/RELIABILITY.md."""
    target = os.environ.get("NEWSALERT_FIGURES")
    if not target:
        return
    outcomes = _outcomes(run.events)
    figures = {
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "healthy_alert_latency_s": {k: round(v, 2) for k, v in run.on_time.items()},
        "feeds": {
            name: {
                "first_outcome_s": round(run.first_outcome_s.get(name, -1), 2),
                "polls": len(events),
                "failures": sum(e["event"] == "feed_failed" for e in events),
                "alerts": len(run.alerts.get(name, [])),
                "error": next((e["error"] for e in events if e["event"] == "feed_failed"), None),
            }
            for name, events in outcomes.items()
        },
    }
    Path(target).write_text(json.dumps(figures, indent=1), encoding="utf-8")


def _seconds(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()


def _metric(metrics: str, name: str, feed: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") and f'feed="{feed}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


# --- the process as a whole ---------------------------------------------------------------


def test_process_stays_under_300_mb(run: Run) -> None:
    assert run.peak_rss_mb < MAX_RSS_MB, f"peak RSS {run.peak_rss_mb:.0f} MB"


def test_healthy_feeds_alert_on_time(run: Run) -> None:
    assert set(run.on_time) == set(HEALTHY), "a healthy feed's new story never arrived"
    assert max(run.on_time.values()) < 5.0, run.on_time


def test_nothing_crashed_and_no_traceback(run: Run) -> None:
    kinds = {e.get("event") for e in run.events}
    assert "feed_poll_crashed" not in kinds
    assert "service_crashed" not in kinds
    assert not any("Traceback" in str(e) for e in run.events)
    assert not any(e.get("event") == "unparsed" for e in run.events)
    assert "internal error" not in json.dumps(run.events)


def test_every_feed_is_handled_within_seconds(run: Run) -> None:
    # Failing slowly is the slowloris' only weapon: it costs one fetch timeout (2 s), no more.
    slow = {n: round(s, 1) for n, s in run.first_outcome_s.items() if s > 10}
    assert not slow


# --- each case ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(run: Run, case: Case) -> None:
    outcomes = _outcomes(run.events)[case.name]
    failed = [e for e in outcomes if e["event"] == "feed_failed"]
    if case.expect == "ok" or (case.expect == "any" and not failed):
        assert not failed, failed[0]["error"]
        assert _metric(run.metrics, "newsalert_feed_errors_total", case.name) == 0
        if case.alerts is not None:
            case.alerts(run.alerts.get(case.name, []))
        return
    # A failing feed: every failure is one clear, single-line log event...
    assert case.expect in ("fail", "any")
    if case.expect == "fail":
        assert all(e["event"] == "feed_failed" for e in outcomes), outcomes
        assert all(case.detail in e["error"] for e in failed), failed[0]["error"]
    for e in failed:
        assert e["level"] == "warning"
        assert "\n" not in e["error"] and 10 < len(e["error"]) < 300
    # ...a metric on /metrics...
    assert _metric(run.metrics, "newsalert_feed_errors_total", case.name) >= len(failed) - 1
    assert _metric(run.metrics, "newsalert_feed_errors_total", case.name) >= 1
    # ...and a backoff: each failure in a row waits longer (equal jitter keeps the 3rd wait
    # at least 2 s where the 1st is at most the 1 s interval), so it is polled less often.
    assert [e["failures"] for e in failed] == list(range(1, len(failed) + 1))
    if len(failed) >= FAILURES_SEEN:
        assert failed[0]["retry_in_s"] <= 1.0 < 1.9 <= failed[FAILURES_SEEN - 1]["retry_in_s"]
        # Three polls of a healthy 1 s feed take 2 s; three failures take at least 0.5 + 1.
        spread = _seconds(failed[FAILURES_SEEN - 1]) - _seconds(failed[0])
        assert spread >= 1.5
    assert case.name not in run.alerts
