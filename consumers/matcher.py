"""The matcher stage: every article against every watchlist, one alert per (article, destination).

A story that matches `china` and `ico`, both routed to `markets`, becomes one alert for
`markets` listing both watchlists, not two messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import structlog
from pydantic import ValidationError

from consumers.matching import Document, Hit
from consumers.reload import MatcherHolder
from service.bus.base import ALERTS, Bus, Record
from service.metrics import Metrics
from service.models import Alert, Article, WatchlistMatch, alert_id

log = structlog.get_logger(__name__)


def document_of(article: Article) -> Document:
    return Document(
        title=article.title, summary=article.summary, feed=article.feed.name, link=article.link
    )


def build_alerts(
    article: Article,
    hits: Sequence[Hit],
    routes: Mapping[str, Sequence[str]],
    now: datetime,
) -> list[Alert]:
    """Group the watchlists that matched by destination. Pure: values in, values out."""
    by_destination: dict[str, list[WatchlistMatch]] = {}
    for hit in hits:
        for destination in routes.get(hit.watchlist, ()):
            by_destination.setdefault(destination, []).append(
                WatchlistMatch(watchlist=hit.watchlist, terms=list(hit.terms))
            )
    return [
        Alert(
            id=alert_id(article.id, destination),
            destination=destination,
            article=article,
            matches=matches,
            created_at=now,
        )
        for destination, matches in by_destination.items()
    ]


class MatcherStage:
    """Matches each batch with the rules running when the batch starts: a live reload swaps
    the rules between batches, never in the middle of an article."""

    def __init__(
        self,
        holder: MatcherHolder,
        bus: Bus,
        metrics: Metrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.holder = holder
        self._bus = bus
        self._metrics = metrics
        self._clock = clock

    async def handle(self, records: Sequence[Record]) -> None:
        now = self._clock()
        rules = self.holder.current
        self._metrics.watchlists_version.set(rules.version)
        self._metrics.watchlist_reload_failures.set(self.holder.failures)
        out: list[tuple[str, bytes]] = []
        for record in records:
            try:
                article = Article.model_validate_json(record.value)
            except ValidationError as exc:
                # A record no version of this code can read: skip it rather than crash-loop on it.
                log.error("article_unreadable", offset=record.offset, errors=exc.error_count())
                continue
            hits = rules.matcher.match(document_of(article))
            for hit in hits:
                self._metrics.watchlist_matches.labels(hit.watchlist).inc()
            if hits:
                self._metrics.articles_matched.inc()
            for alert in build_alerts(article, hits, rules.routes, now):
                self._metrics.alerts_created.labels(alert.destination).inc()
                log.info(
                    "article_matched",
                    article=article.id,
                    destination=alert.destination,
                    watchlists=[m.watchlist for m in alert.matches],
                )
                # Keyed by destination: one destination's order and rate limit live in one partition.
                out.append((alert.destination, alert.model_dump_json().encode()))
        await self._bus.publish(ALERTS, out)

    def readiness(self) -> str:
        """For /readyz: the running version, and the last reload's error if it failed."""
        status = f"ok: watchlists version {self.holder.version}"
        if self.holder.last_error:
            status += f"; the last edit was refused, running rules kept: {self.holder.last_error}"
        return status
