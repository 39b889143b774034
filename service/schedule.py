"""When to poll a feed next, and which items a feed's first poll alerts on. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from service.models import Article
from service.settings import Backfill

# A healthy feed is polled every `interval`, give or take this fraction, so feeds configured
# together do not all hit the network in the same second.
SPREAD = 0.1
# The first retry of a failing feed comes after at most this long, whatever its interval.
FIRST_RETRY = 60.0


def next_poll_after_success(now: float, interval: float, rand: float) -> float:
    """`rand` in [0, 1) spreads polls by ±10% of the interval."""
    return now + interval * (1 + SPREAD * (2 * rand - 1))


def next_poll_after_failure(
    now: float,
    *,
    interval: float,
    failures: int,
    max_backoff: float,
    rand: float,
    retry_after: float | None = None,
) -> float:
    """Exponential backoff with jitter for the `failures`-th consecutive failure (1-based).

    Starts at the smaller of the interval and a minute, doubles per failure, is capped at the
    larger of `max_backoff` and the interval (a failing feed is never polled more often than a
    healthy one), and never comes before a server's Retry-After.
    """
    base = min(interval, FIRST_RETRY) * 2.0 ** min(max(failures, 1) - 1, 30)
    delay = min(base, max(max_backoff, interval))
    delay *= 0.5 + rand / 2  # "equal jitter": at least half the backoff, spread over the rest
    if retry_after is not None:
        delay = max(delay, retry_after)
    return now + delay


def select_backfill(
    articles: Sequence[Article], backfill: Backfill, now: datetime
) -> list[Article]:
    """Which of a feed's items its first poll alerts on; later polls alert on every new item."""
    if backfill.mode == "none":
        return []
    if backfill.mode == "all":
        return list(articles)
    if backfill.mode == "newest":
        dated = sorted(
            articles,
            key=lambda a: a.published or datetime.min.replace(tzinfo=now.tzinfo),
            reverse=True,
        )
        chosen = {a.id for a in dated[: backfill.count]}
        return [a for a in articles if a.id in chosen]
    cutoff = now - timedelta(seconds=backfill.seconds)
    # An undated item cannot be shown to be recent, so it is not backfilled.
    return [a for a in articles if a.published is not None and a.published >= cutoff]


def publication_order(articles: Sequence[Article]) -> list[Article]:
    """Oldest first, so alerts of one poll arrive in the order the stories appeared.

    Feeds list newest first; undated items keep their relative place from the document's end.
    """
    indexed = list(enumerate(reversed(articles)))
    return [
        a
        for _, a in sorted(
            indexed,
            key=lambda pair: (
                pair[1].published.timestamp() if pair[1].published else float("-inf"),
                pair[0],
            ),
        )
    ]
