"""Feed scheduling and backfill: pure functions, table-tested."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.models import Article, FeedRef
from service.schedule import (
    next_poll_after_failure,
    next_poll_after_success,
    publication_order,
    select_backfill,
)
from service.settings import Backfill
from service.units import parse_duration, parse_size

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def article(n: int, hours_ago: float | None) -> Article:
    return Article(
        id=f"a{n}",
        feed=FeedRef(name="f", url="https://example.org/rss"),
        title=f"story {n}",
        summary="",
        link=f"https://example.org/{n}",
        published=None if hours_ago is None else NOW - timedelta(hours=hours_ago),
        fetched_at=NOW,
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("500ms", 0.5),
        (90, 90),
        ("1.5h", 5400),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "m5", True, "-3s", "1h+"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("text", "size"), [("10MB", 10_000_000), ("512KiB", 524288), (4096, 4096)])
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


def test_success_spreads_polls_within_ten_percent() -> None:
    assert next_poll_after_success(1000.0, 300.0, 0.0) == pytest.approx(1270.0)
    assert next_poll_after_success(1000.0, 300.0, 0.5) == pytest.approx(1300.0)
    assert next_poll_after_success(1000.0, 300.0, 0.999999) == pytest.approx(1330.0, abs=0.01)


@given(
    failures=st.integers(min_value=1, max_value=200),
    interval=st.floats(min_value=1, max_value=86400),
    rand=st.floats(min_value=0, max_value=0.999999),
)
def test_failure_backoff_is_bounded_and_never_faster_than_half_the_first_retry(
    failures: int, interval: float, rand: float
) -> None:
    delay = next_poll_after_failure(
        0.0, interval=interval, failures=failures, max_backoff=3600, rand=rand
    )
    assert delay <= max(3600.0, interval) + 1e-6
    assert delay >= min(interval, 60.0) / 2 - 1e-6


def test_failure_backoff_grows_and_honours_retry_after() -> None:
    delays = [
        next_poll_after_failure(0.0, interval=300, failures=n, max_backoff=3600, rand=0.999)
        for n in range(1, 9)
    ]
    assert delays == sorted(delays)
    assert delays[0] == pytest.approx(60, rel=0.01)
    assert delays[-1] == pytest.approx(3600, rel=0.01)
    assert (
        next_poll_after_failure(
            0.0, interval=300, failures=1, max_backoff=3600, rand=0.0, retry_after=900
        )
        == 900
    )


ARTICLES = [article(1, 1), article(2, 30), article(3, None), article(4, 2), article(5, 100)]


@pytest.mark.parametrize(
    ("backfill", "expected"),
    [
        (Backfill("none"), []),
        (Backfill("all"), ["a1", "a2", "a3", "a4", "a5"]),
        (Backfill("newest", count=2), ["a1", "a4"]),
        (Backfill("newest", count=0), []),
        (Backfill("newer_than", seconds=24 * 3600), ["a1", "a4"]),
        (Backfill("newer_than", seconds=48 * 3600), ["a1", "a2", "a4"]),
    ],
)
def test_backfill_selects_what_a_first_poll_alerts_on(
    backfill: Backfill, expected: list[str]
) -> None:
    assert [a.id for a in select_backfill(ARTICLES, backfill, NOW)] == expected


def test_publication_order_is_oldest_first() -> None:
    assert [a.id for a in publication_order(ARTICLES)] == ["a3", "a5", "a2", "a4", "a1"]
