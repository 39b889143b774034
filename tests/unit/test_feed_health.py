"""Feed health transitions: tables of poll outcomes in, events out; one event per transition."""

from __future__ import annotations

import pytest

from service.feed_health import (
    FeedHealth,
    HealthPolicy,
    PollResult,
    Storm,
    observe,
    storm,
)

POLICY = HealthPolicy(failing_after=3, failing_for=1800, stale_after=86400)
OK = PollResult(ok=True, new_items=1)
QUIET = PollResult(ok=True, new_items=0)
DOWN = PollResult(ok=False, error="wire answered 503.", http_status=503, next_poll_at=9999)


def run(polls: list[tuple[float, PollResult]], start: FeedHealth | None = None) -> list[str]:
    health = start or FeedHealth("wire", last_new_at=0.0)
    out = []
    for now, result in polls:
        health, event = observe(health, result, POLICY, now)
        if event is not None:
            out.append(f"{event.kind}@{now:g}")
    return out


@pytest.mark.parametrize(
    ("polls", "events"),
    [
        ([(60, OK), (120, OK)], []),
        # three failures in a row: one failing event, not one per failed poll
        ([(60, DOWN), (120, DOWN), (180, DOWN), (240, DOWN), (300, DOWN)], ["failing@180"]),
        # two failures then a success: never failing, nothing to recover from
        ([(60, DOWN), (120, DOWN), (180, OK)], []),
        # failing for 30 minutes counts even with few polls (long backoff)
        ([(0, DOWN), (1900, DOWN)], ["failing@1900"]),
        # recovered once, at the first success
        (
            [(60, DOWN), (120, DOWN), (180, DOWN), (240, OK), (300, OK)],
            ["failing@180", "recovered@240"],
        ),
        # no new item for a day: stale once; a new item makes it fresh again silently
        (
            [(80000, QUIET), (86400, QUIET), (90000, QUIET), (91000, OK), (92000, QUIET)],
            ["stale@86400"],
        ),
        # stale again a day after the last new item
        ([(86400, QUIET), (90000, OK), (176400, QUIET)], ["stale@86400", "stale@176400"]),
    ],
)
def test_transitions(polls: list[tuple[float, PollResult]], events: list[str]) -> None:
    assert run(polls) == events


def test_failing_event_says_what_and_when() -> None:
    health = FeedHealth("wire", last_new_at=0.0)
    for now in (10.0, 20.0):
        health, _ = observe(health, DOWN, POLICY, now)
    health, event = observe(health, DOWN, POLICY, 30.0)
    assert event is not None
    assert (event.error, event.http_status, event.next_retry_at, event.since) == (
        "wire answered 503.",
        503,
        9999,
        10.0,
    )
    _, recovered = observe(health, OK, POLICY, 130.0)
    assert recovered is not None and recovered.downtime == 120.0


def test_restart_neither_repeats_nor_loses() -> None:
    """The state after each poll is what is stored; carrying on from it gives the same events."""
    polls = [(60.0, DOWN), (120.0, DOWN), (180.0, DOWN), (240.0, DOWN), (300.0, OK)]
    whole = run(polls)
    health = FeedHealth("wire", last_new_at=0.0)
    for now, result in polls[:3]:
        health, _ = observe(health, result, POLICY, now)
    stored = FeedHealth(**health.__dict__)  # as read back from the store
    assert run(polls[3:], stored) == [e for e in whole if not e.startswith("failing")]


def test_event_ids_are_deterministic() -> None:
    health = FeedHealth("wire", failures=2, failing_since=5.0)
    _, a = observe(health, DOWN, POLICY, 30.0)
    _, b = observe(health, DOWN, POLICY, 30.0)
    assert a is not None and b is not None and a.id == b.id


def _feeds(failing: int, total: int) -> dict[str, FeedHealth]:
    return {f"f{i}": FeedHealth(f"f{i}", failures=3 if i < failing else 0) for i in range(total)}


def test_most_feeds_failing_is_one_alert_and_one_recovery() -> None:
    total = 10
    state = Storm()
    sent: list[str] = []
    # One feed at a time crosses the threshold while all ten are failing their polls.
    for i in range(total):
        feeds = _feeds(total, total)
        event = FeedHealth(f"f{i}", failures=2)
        _, ev = observe(event, DOWN, POLICY, 100.0 + i)
        state, events = storm(state, ev, feeds, 100.0 + i)
        sent += [f"{e.kind}:{e.feed or 'many'}:{len(e.feeds)}" for e in events]
    # Recovering one by one: silent until at most half still fail, then one recovery.
    for left in range(total - 1, -1, -1):
        _, ev = observe(FeedHealth(f"f{left}", status="failing", failures=3), OK, POLICY, 500.0)
        state, events = storm(state, ev, _feeds(left, total), 500.0 + left)
        sent += [f"{e.kind}:{e.feed or 'many'}:{len(e.feeds)}" for e in events]
    assert sent[0] == "failing:many:10"
    assert sent.count("failing:many:10") == 1
    assert [s for s in sent if "many" in s] == ["failing:many:10", "recovered:many:5"]
    # after the storm the last five feeds recover individually
    assert len([s for s in sent if s.startswith("recovered:f")]) == 5
    assert not [s for s in sent if s.startswith("failing:f")]


@pytest.mark.parametrize(
    ("failing", "total", "storms"),
    [(2, 3, False), (2, 4, False), (3, 4, True), (6, 10, True), (5, 10, False)],
)
def test_what_counts_as_most(failing: int, total: int, storms: bool) -> None:
    _, ev = observe(FeedHealth("f0", failures=2), DOWN, POLICY, 10.0)
    state, events = storm(Storm(), ev, _feeds(failing, total), 10.0)
    assert (state.since is not None) == storms
    assert len(events) == 1
