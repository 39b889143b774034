"""Flood control, digests and quiet hours: whether an alert goes out now or waits for a digest.

Pure: the clock is passed in as `now` (seconds since the epoch), time zones are IANA names read
with zoneinfo, and nothing here stores or sends. `decide` answers `Send` or `Hold(window)`; every
alert held into the same window goes out as one digest when the window ends, so a window's
kind, start and end are its identity (`digest_id` adds the destination).

The order of the checks is the order of their strength: a priority watchlist bypasses all three;
quiet hours hold everything until they end; a digest schedule holds everything until the next
scheduled time; only then does the flood limit count single alerts.

Flood control is a sliding limit: a single alert is sent only while fewer than `max` were sent
in the last `per` seconds, so no `per`-long window ever holds more than `max`. The first alert
over the limit opens a flood window that starts at the oldest of those `max` sends and ends `per`
later: the moment the limit frees up. Alerts arriving while a flood window is open join it
(the rest of that window goes out as one digest), rather than trickling out one by one as old
sends age out.

Local times ("08:00" in Europe/London) are turned into instants day by day, so a window across
midnight or across a DST change has its true length (a quiet night of 22:00-07:00 lasts 8 or 10
hours on the nights the clocks change). A time that does not exist on a spring-forward day is
read with the offset before the change (01:30 GMT, i.e. 02:30 BST), a time that occurs twice
on a fall-back day is its first occurrence: each scheduled time happens once a day.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from typing import Literal
from zoneinfo import ZoneInfo

WindowKind = Literal["flood", "digest", "quiet"]


@dataclass(frozen=True)
class Flood:
    """At most `max` single alerts in any `per` seconds."""

    max: int
    per: float


@dataclass(frozen=True)
class DigestEvery:
    """Only digests, one per `every` seconds (windows aligned to the epoch: 1h is on the hour UTC)."""

    every: float


@dataclass(frozen=True)
class DigestAt:
    """Only digests, sent at these local times of day in `timezone`."""

    at: tuple[time_of_day, ...]
    timezone: str


@dataclass(frozen=True)
class QuietHours:
    """From `start` to `end` local time (across midnight when end <= start) alerts are held."""

    start: time_of_day
    end: time_of_day
    timezone: str


@dataclass(frozen=True)
class HoldPolicy:
    """One destination's rules; all optional, and none at all means every alert is sent at once."""

    flood: Flood | None = None
    digest: DigestEvery | DigestAt | None = None
    quiet_hours: QuietHours | None = None

    @property
    def holds(self) -> bool:
        return not (self.flood is None and self.digest is None and self.quiet_hours is None)


@dataclass(frozen=True)
class Window:
    """A digest window: alerts held into it go out together at `end`."""

    kind: WindowKind
    start: float
    end: float


@dataclass(frozen=True)
class Send:
    """Send the alert now, as a single message."""


@dataclass(frozen=True)
class Hold:
    """Hold the alert for the digest of `window`, due at `window.end`."""

    window: Window


Decision = Send | Hold
SEND = Send()


def decide(
    policy: HoldPolicy,
    *,
    priority: bool,
    recent_sends: Sequence[float],
    open_flood: Window | None,
    now: float,
) -> Decision:
    """Send now or hold, for one alert arriving at `now`.

    `recent_sends` are the times single alerts were sent (or admitted to be sent) to this
    destination; only those within the last `flood.per` count. `open_flood` is the flood window
    alerts are being held in, if any.
    """
    if priority:
        return SEND
    if policy.quiet_hours is not None:
        quiet = quiet_window(policy.quiet_hours, now)
        if quiet is not None:
            return Hold(quiet)
    if policy.digest is not None:
        return Hold(digest_window(policy.digest, now))
    if policy.flood is not None:
        if open_flood is not None and open_flood.start <= now < open_flood.end:
            return Hold(open_flood)
        window = flood_window(policy.flood, recent_sends, now)
        if window is not None:
            return Hold(window)
    return SEND


def flood_window(flood: Flood, recent_sends: Sequence[float], now: float) -> Window | None:
    """The flood window `now` falls in when `max` singles were already sent in the last `per`."""
    inside = sorted(t for t in recent_sends if now - flood.per < t <= now)
    if len(inside) < flood.max:
        return None
    # The limit frees up when the oldest of the last `max` sends leaves the window.
    start = inside[-flood.max]
    return Window("flood", start, start + flood.per)


def digest_window(digest: DigestEvery | DigestAt, now: float) -> Window:
    """The digest window holding `now`: from the previous scheduled send to the next."""
    if isinstance(digest, DigestEvery):
        start = math.floor(now / digest.every) * digest.every
        return Window("digest", start, start + digest.every)
    zone = ZoneInfo(digest.timezone)
    today = datetime.fromtimestamp(now, zone).date()
    instants = sorted(
        _instant(today + timedelta(days=d), t, zone) for d in (-1, 0, 1) for t in digest.at
    )
    start = max(i for i in instants if i <= now)
    end = min(i for i in instants if i > now)
    return Window("digest", start, end)


def quiet_window(quiet: QuietHours, now: float) -> Window | None:
    """The quiet period `now` falls in, or None outside quiet hours."""
    zone = ZoneInfo(quiet.timezone)
    today = datetime.fromtimestamp(now, zone).date()
    crosses_midnight = quiet.end <= quiet.start
    for day in (today - timedelta(days=1), today):
        start = _instant(day, quiet.start, zone)
        end = _instant(day + timedelta(days=1) if crosses_midnight else day, quiet.end, zone)
        if start <= now < end:
            return Window("quiet", start, end)
    return None


def digest_id(destination: str, window: Window) -> str:
    """Deterministic: the same destination and window always give the same digest id, so a
    receiver can drop a repeat, and the store can tell a digest was already sent."""
    key = f"{destination}\x1f{window.kind}\x1f{window.start!r}\x1f{window.end!r}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def due_windows(windows: Sequence[Window], now: float) -> list[Window]:
    """The windows whose digest is due (ended at or before `now`), oldest first: after a restart,
    every window that ended while the process was down is due at once."""
    return sorted((w for w in windows if w.end <= now), key=lambda w: (w.end, w.start))


def _instant(day: date, at: time_of_day, zone: ZoneInfo) -> float:
    return datetime.combine(day, at, tzinfo=zone).timestamp()
