"""Delivery policy: when to retry a failed send and how long to wait. Pure: no clock, no I/O.

The caller supplies the random number, so the jitter is reproducible in tests and the
functions stay values in, values out.
"""

from __future__ import annotations

from dataclasses import dataclass

from consumers.errors import DeliveryError
from service.settings import DeliverySettings

# 2**64 times any sane initial backoff is far beyond any max_backoff; capping the exponent
# keeps huge attempt numbers from overflowing a float.
_MAX_EXPONENT = 64

_DEFAULTS = DeliverySettings()


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retry limits for one destination. Durations are in seconds."""

    # The defaults are the config's (`delivery:`), written once there.
    max_attempts: int = _DEFAULTS.max_attempts
    initial_backoff: float = _DEFAULTS.initial_backoff
    max_backoff: float = _DEFAULTS.max_backoff
    timeout: float = _DEFAULTS.timeout

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff < 0:
            raise ValueError("initial_backoff must not be negative")
        if self.max_backoff < self.initial_backoff:
            raise ValueError("max_backoff must not be smaller than initial_backoff")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")


def backoff_delay(attempt: int, policy: DeliveryPolicy, rand: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    Exponential (initial, 2x, 4x, ...) capped at max_backoff, with "equal jitter": half of
    the step is fixed, the other half scaled by `rand`, so retries of many alerts spread
    out but never come back sooner than half the step.
    """
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    if not 0.0 <= rand < 1.0:
        raise ValueError("rand must be in [0, 1)")
    step = min(policy.max_backoff, policy.initial_backoff * 2.0 ** min(attempt - 1, _MAX_EXPONENT))
    return step / 2 + rand * step / 2


def retry_delay(
    attempt: int, error: DeliveryError, policy: DeliveryPolicy, rand: float
) -> float | None:
    """Seconds to wait before the next attempt, or None to give up (dead letter).

    Gives up on permanent errors and once `attempt` reaches max_attempts. A Retry-After from
    the receiver is honoured (the delay is at least that long); one longer than max_backoff
    also gives up, so a receiver cannot park an alert for hours: the dead letter can be
    replayed instead.
    """
    if not error.retriable or attempt >= policy.max_attempts:
        return None
    delay = backoff_delay(attempt, policy, rand)
    if error.retry_after is not None:
        if error.retry_after > policy.max_backoff:
            return None
        delay = max(delay, error.retry_after)
    return delay
