"""Flood control, digests and quiet hours: tables of decisions, clock passed in."""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import time as tod
from zoneinfo import ZoneInfo

import pytest

from consumers.holding import (
    SEND,
    DigestAt,
    DigestEvery,
    Flood,
    Hold,
    HoldPolicy,
    QuietHours,
    Window,
    decide,
    digest_id,
    digest_window,
    due_windows,
    quiet_window,
)

LONDON = "Europe/London"


def at(text: str, zone: str = "UTC") -> float:
    """An instant from local wall-clock text such as '2026-03-29 00:30'."""
    naive = datetime.fromisoformat(text)
    return naive.replace(tzinfo=UTC if zone == "UTC" else ZoneInfo(zone)).timestamp()


def local(ts: float, zone: str = LONDON) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


FLOOD = HoldPolicy(flood=Flood(max=3, per=600))
QUIET = QuietHours(tod(22, 0), tod(7, 0), LONDON)
TWICE = DigestAt((tod(8, 0), tod(17, 30)), LONDON)
T0 = at("2026-06-01 12:00")


@pytest.mark.parametrize(
    ("sends", "open_flood", "now", "expected"),
    [
        ([], None, T0, SEND),
        ([T0 - 10, T0 - 5], None, T0, SEND),  # two of three used
        # the third in ten minutes was sent: hold until the oldest leaves the window
        ([T0 - 300, T0 - 10, T0 - 5], None, T0, Hold(Window("flood", T0 - 300, T0 + 300))),
        # sends older than `per` no longer count
        ([T0 - 700, T0 - 10, T0 - 5], None, T0, SEND),
        # a send exactly `per` ago has left the window
        ([T0 - 600, T0 - 10, T0 - 5], None, T0, SEND),
        # an open flood window keeps collecting, even once the limit has freed up
        (
            [T0 - 700],
            Window("flood", T0 - 100, T0 + 500),
            T0,
            Hold(Window("flood", T0 - 100, T0 + 500)),
        ),
        # a flood window that has closed takes nothing more
        ([], Window("flood", T0 - 700, T0 - 100), T0, SEND),
    ],
)
def test_flood(sends: list[float], open_flood: Window | None, now: float, expected: object) -> None:
    assert (
        decide(FLOOD, priority=False, recent_sends=sends, open_flood=open_flood, now=now)
        == expected
    )


def test_flood_never_more_than_max_in_any_window() -> None:
    """A steady stream of one alert a second: count singles in every sliding window."""
    policy = HoldPolicy(flood=Flood(max=5, per=60))
    sends: list[float] = []
    open_flood: Window | None = None
    for second in range(600):
        now = T0 + second
        decision = decide(
            policy, priority=False, recent_sends=sends, open_flood=open_flood, now=now
        )
        if isinstance(decision, Hold):
            open_flood = decision.window
        else:
            sends.append(now)
    for s in sends:
        assert sum(1 for t in sends if s <= t < s + 60) <= 5
    assert len(sends) >= 5 * 600 // 120  # singles keep flowing between flood windows


@pytest.mark.parametrize(
    ("now", "window"),
    [
        # a night across midnight: held from 22:00 to 07:00 London (BST, 9h)
        ("2026-06-01 23:30", ("2026-06-01 22:00 BST", "2026-06-02 07:00 BST")),
        ("2026-06-02 06:59", ("2026-06-01 22:00 BST", "2026-06-02 07:00 BST")),
        ("2026-06-02 07:00", None),
        ("2026-06-01 21:59", None),
        ("2026-06-01 22:00", ("2026-06-01 22:00 BST", "2026-06-02 07:00 BST")),
        # clocks go forward at 01:00 GMT on 29 March 2026: that night is 8 hours long
        ("2026-03-29 03:00", ("2026-03-28 22:00 GMT", "2026-03-29 07:00 BST")),
        # clocks go back at 02:00 BST on 25 October 2026: that night is 10 hours long
        ("2026-10-25 01:30", ("2026-10-24 22:00 BST", "2026-10-25 07:00 GMT")),
    ],
)
def test_quiet_hours(now: str, window: tuple[str, str] | None) -> None:
    found = quiet_window(QUIET, at(now, LONDON))
    if window is None:
        assert found is None
    else:
        assert found is not None
        assert (local(found.start), local(found.end)) == window


@pytest.mark.parametrize(
    ("now", "hours"),
    [("2026-03-29 03:00", 8), ("2026-10-25 01:30", 10), ("2026-06-01 23:00", 9)],
)
def test_quiet_night_length_follows_dst(now: str, hours: int) -> None:
    found = quiet_window(QUIET, at(now, LONDON))
    assert found is not None
    assert found.end - found.start == hours * 3600


def test_quiet_hours_within_a_day() -> None:
    lunch = QuietHours(tod(12, 0), tod(13, 0), "UTC")
    assert quiet_window(lunch, at("2026-06-01 12:30")) == Window(
        "quiet", at("2026-06-01 12:00"), at("2026-06-01 13:00")
    )
    assert quiet_window(lunch, at("2026-06-01 13:30")) is None


@pytest.mark.parametrize(
    ("now", "window"),
    [
        ("2026-06-01 09:00", ("2026-06-01 08:00 BST", "2026-06-01 17:30 BST")),
        ("2026-06-01 17:30", ("2026-06-01 17:30 BST", "2026-06-02 08:00 BST")),
        ("2026-06-02 01:00", ("2026-06-01 17:30 BST", "2026-06-02 08:00 BST")),  # across midnight
        ("2026-06-01 07:59", ("2026-05-31 17:30 BST", "2026-06-01 08:00 BST")),
        # across the spring-forward night: 13.5 local hours, 13.5 - 1 real ones
        ("2026-03-29 03:00", ("2026-03-28 17:30 GMT", "2026-03-29 08:00 BST")),
        ("2026-10-25 03:00", ("2026-10-24 17:30 BST", "2026-10-25 08:00 GMT")),
    ],
)
def test_digest_at(now: str, window: tuple[str, str]) -> None:
    found = digest_window(TWICE, at(now, LONDON))
    assert (local(found.start), local(found.end)) == window


def test_digest_at_a_time_missing_on_the_spring_forward_day() -> None:
    # 01:30 does not exist in London on 29 March 2026; it is read as 01:30 GMT (02:30 BST).
    nightly = DigestAt((tod(1, 30),), LONDON)
    found = digest_window(nightly, at("2026-03-29 00:30", LONDON))
    assert local(found.end) == "2026-03-29 02:30 BST"
    assert found.end - found.start == 24 * 3600  # 01:30 GMT to 01:30 GMT


def test_digest_every_aligned_windows() -> None:
    hourly = DigestEvery(3600)
    assert digest_window(hourly, at("2026-06-01 12:34")) == Window(
        "digest", at("2026-06-01 12:00"), at("2026-06-01 13:00")
    )
    assert digest_window(hourly, at("2026-06-01 13:00")).start == at("2026-06-01 13:00")


@pytest.mark.parametrize(
    ("policy", "now", "kind"),
    [
        # quiet hours outrank the digest schedule and the flood limit
        (
            HoldPolicy(flood=Flood(1, 60), digest=DigestEvery(3600), quiet_hours=QUIET),
            "2026-06-01 23:00",
            "quiet",
        ),
        # outside quiet hours a digest destination sends only digests
        (
            HoldPolicy(flood=Flood(1, 60), digest=DigestEvery(3600), quiet_hours=QUIET),
            "2026-06-01 12:00",
            "digest",
        ),
        (HoldPolicy(flood=Flood(1, 60), quiet_hours=QUIET), "2026-06-01 12:00", "flood"),
        (HoldPolicy(quiet_hours=QUIET), "2026-06-01 12:00", None),
        (HoldPolicy(), "2026-06-01 23:00", None),
    ],
)
def test_order_of_rules(policy: HoldPolicy, now: str, kind: str | None) -> None:
    t = at(now, LONDON)
    decision = decide(policy, priority=False, recent_sends=[t - 1], open_flood=None, now=t)
    assert (decision.window.kind if isinstance(decision, Hold) else None) == kind


def test_priority_bypasses_everything() -> None:
    policy = HoldPolicy(flood=Flood(1, 60), digest=DigestEvery(3600), quiet_hours=QUIET)
    t = at("2026-06-01 23:00", LONDON)
    flood = Window("flood", t - 10, t + 50)
    assert decide(policy, priority=True, recent_sends=[t - 1], open_flood=flood, now=t) == SEND


def test_digest_due_while_down_is_due_once_at_start() -> None:
    """The process was down across 08:00: on start that window is due at once; once it is
    recorded sent (and its alerts removed), the next window is not due until 17:30."""
    held = [
        digest_window(TWICE, at("2026-06-01 07:00", LONDON)),
        digest_window(TWICE, at("2026-06-01 07:30", LONDON)),  # the same window again
        digest_window(TWICE, at("2026-06-01 09:00", LONDON)),
    ]
    restart = at("2026-06-01 08:40", LONDON)
    due = due_windows(list(set(held)), restart)
    assert [local(w.end) for w in due] == ["2026-06-01 08:00 BST"]
    sent = set(due)
    assert due_windows([w for w in set(held) if w not in sent], restart) == []


def test_digest_id_is_deterministic() -> None:
    w = Window("quiet", 1.0, 2.0)
    assert digest_id("markets", w) == digest_id("markets", Window("quiet", 1.0, 2.0))
    assert digest_id("markets", w) != digest_id("ops", w)
    assert digest_id("markets", w) != digest_id("markets", Window("digest", 1.0, 2.0))
