"""The retry policy: how long the notifier waits, and when it gives up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.delivery import DeliveryPolicy, backoff_delay, retry_delay
from consumers.errors import DeliveryError

POLICY = DeliveryPolicy(max_attempts=8, initial_backoff=1.0, max_backoff=600.0)
TRANSIENT = DeliveryError("webhook destination 'audit' failed (HTTP 503)", retriable=True)
PERMANENT = DeliveryError("slack destination 'markets' refused (HTTP 410)", retriable=False)


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (1, 0.0, 0.5),
        (1, 0.5, 0.75),
        (2, 0.0, 1.0),
        (3, 0.5, 3.0),
        (4, 0.0, 4.0),
        (10, 0.0, 256.0),
        (11, 0.0, 300.0),  # 1024 s capped at 600, half of it fixed
        (11, 0.5, 450.0),
        (50, 0.0, 300.0),
    ],
)
def test_backoff_table(attempt: int, rand: float, expected: float) -> None:
    assert backoff_delay(attempt, POLICY, rand) == pytest.approx(expected)


def test_backoff_grows_until_the_cap_and_never_exceeds_it() -> None:
    shortest = [backoff_delay(n, POLICY, 0.0) for n in range(1, 40)]
    longest = [backoff_delay(n, POLICY, 0.999999) for n in range(1, 40)]
    assert shortest == sorted(shortest)
    assert longest == sorted(longest)
    assert max(longest) <= POLICY.max_backoff
    assert longest[-1] == pytest.approx(POLICY.max_backoff, rel=1e-5)


@given(attempt=st.integers(1, 10**9), rand=st.floats(0.0, 1.0, exclude_max=True))
def test_jitter_stays_within_half_to_full_step(attempt: int, rand: float) -> None:
    delay = backoff_delay(attempt, POLICY, rand)
    step_floor = backoff_delay(attempt, POLICY, 0.0)
    assert step_floor <= delay <= min(2 * step_floor, POLICY.max_backoff)
    assert 0.0 < delay <= POLICY.max_backoff


@pytest.mark.parametrize(("attempt", "rand"), [(0, 0.5), (-1, 0.5), (1, 1.0), (1, -0.1)])
def test_out_of_range_inputs_are_refused(attempt: int, rand: float) -> None:
    with pytest.raises(ValueError):
        backoff_delay(attempt, POLICY, rand)


def test_transient_errors_are_retried_with_backoff() -> None:
    assert retry_delay(1, TRANSIENT, POLICY, 0.0) == pytest.approx(0.5)
    assert retry_delay(5, TRANSIENT, POLICY, 0.5) == pytest.approx(12.0)


def test_permanent_errors_are_never_retried() -> None:
    assert retry_delay(1, PERMANENT, POLICY, 0.0) is None


def test_gives_up_after_max_attempts() -> None:
    delays = [retry_delay(n, TRANSIENT, POLICY, 0.3) for n in range(1, 10)]
    assert all(d is not None for d in delays[:7])
    assert delays[7:] == [None, None]  # attempt 8 was the last one allowed


def test_single_attempt_policy_never_retries() -> None:
    assert retry_delay(1, TRANSIENT, DeliveryPolicy(max_attempts=1), 0.0) is None


@pytest.mark.parametrize("attempt", [1, 3, 6])
def test_retry_after_is_honoured(attempt: int) -> None:
    rate_limited = DeliveryError("rate limited", retriable=True, retry_after=90.0)
    delay = retry_delay(attempt, rate_limited, POLICY, 0.9)
    assert delay is not None and delay >= 90.0


def test_backoff_wins_when_longer_than_retry_after() -> None:
    short_hint = DeliveryError("rate limited", retriable=True, retry_after=1.0)
    assert retry_delay(9, short_hint, DeliveryPolicy(max_attempts=20), 0.0) == pytest.approx(128.0)


def test_retry_after_beyond_max_backoff_gives_up_to_the_dead_letters() -> None:
    hours = DeliveryError("unavailable", retriable=True, retry_after=7200.0)
    assert retry_delay(1, hours, POLICY, 0.0) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"initial_backoff": -1.0},
        {"initial_backoff": 10.0, "max_backoff": 5.0},
        {"timeout": 0.0},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DeliveryPolicy(**kwargs)  # type: ignore[arg-type]
