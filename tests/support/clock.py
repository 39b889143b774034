"""A clock that moves only when a test says so, for the stages' injected `clock` parameters.

The poller, the notifier, the store and the destinations take `clock: () -> float` (epoch
seconds); the matcher stage and the watchlist holder take `() -> datetime`. One `FakeClock`
serves both, so a test sets the time once and every part agrees on it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class FakeClock:
    """Epoch seconds, frozen at `start` (default: now) until `advance` or `set`.

    Starting at the real time keeps what is checked against the real time (a Standard Webhooks
    receiver's five-minute tolerance for `webhook-timestamp`) valid for short advances.
    """

    def __init__(self, start: float | None = None) -> None:
        self.start = time.time() if start is None else start
        self.now = self.start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, when: float) -> None:
        self.now = when

    def datetime(self) -> datetime:
        """The same instant, as the aware UTC datetime the matcher side uses."""
        return datetime.fromtimestamp(self.now, UTC)
