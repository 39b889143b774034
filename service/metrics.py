"""Prometheus metrics of one process: built once when a process starts its stages, passed down;
no global registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.feed_polls = Counter(
            "newsalert_feed_polls",
            "Feed polls by outcome (ok, not_modified, unchanged: the last body again, error)",
            ["feed", "outcome"],
            registry=r,
        )
        self.feed_errors = Counter(
            "newsalert_feed_errors",
            "Failed feed polls by kind of error",
            ["feed", "kind"],
            registry=r,
        )
        self.feed_consecutive_failures = Gauge(
            "newsalert_feed_consecutive_failures",
            "Failures in a row per feed",
            ["feed"],
            registry=r,
        )
        self.articles_polled = Counter(
            "newsalert_articles_polled", "Items read from feeds", ["feed"], registry=r
        )
        self.articles_published = Counter(
            "newsalert_articles_published",
            "New articles handed to the matcher",
            ["feed"],
            registry=r,
        )
        self.articles_matched = Counter(
            "newsalert_articles_matched", "Articles that matched at least one watchlist", registry=r
        )
        self.watchlist_matches = Counter(
            "newsalert_watchlist_matches", "Matches per watchlist", ["watchlist"], registry=r
        )
        self.watchlists_version = Gauge(
            "newsalert_watchlists_version",
            "Version of the running watchlists (1 at start)",
            registry=r,
        )
        self.watchlist_reload_failures = Gauge(
            "newsalert_watchlist_reload_failures",
            "Watchlist edits refused since the process started",
            registry=r,
        )
        self.alerts_created = Counter(
            "newsalert_alerts_created",
            "Alerts created per destination",
            ["destination"],
            registry=r,
        )
        self.alerts_delivered = Counter(
            "newsalert_alerts_delivered",
            "Alerts delivered per destination",
            ["destination"],
            registry=r,
        )
        self.alerts_failed = Counter(
            "newsalert_alert_delivery_failures",
            "Failed delivery attempts per destination (retried or dead-lettered)",
            ["destination", "retriable"],
            registry=r,
        )
        self.alerts_dead_lettered = Counter(
            "newsalert_alerts_dead_lettered",
            "Alerts moved to the dead letters",
            ["destination"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "newsalert_consumer_lag", "Messages waiting for a stage", ["topic"], registry=r
        )
        self.outbox_pending = Gauge(
            "newsalert_outbox_pending", "Alerts waiting for delivery", registry=r
        )

        self.stories_opened = Counter(
            "newsalert_stories_opened",
            "Stories opened (first copies), per feed of the first copy",
            ["feed"],
            registry=r,
        )
        self.story_copies = Counter(
            "newsalert_story_copies_grouped",
            "Later copies grouped into an open story instead of alerting again, per feed",
            ["feed"],
            registry=r,
        )
        self.alerts_held = Counter(
            "newsalert_alerts_held",
            "Alerts held for a digest, per destination and window kind (flood, digest, quiet)",
            ["destination", "window"],
            registry=r,
        )
        self.alerts_holding = Gauge(
            "newsalert_alerts_holding",
            "Alerts waiting for a digest now, per destination",
            ["destination"],
            registry=r,
        )
        self.digests_sent = Counter(
            "newsalert_digests_sent",
            "Digests delivered, per destination and window kind",
            ["destination", "window"],
            registry=r,
        )
        self.feeds_by_health = Gauge(
            "newsalert_feeds_by_health",
            "Feeds per health state (ok, failing, stale)",
            ["state"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
