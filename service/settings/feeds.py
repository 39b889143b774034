"""One feed of the config: its URL and what it overrides of the polling defaults."""

from __future__ import annotations

from pydantic import field_validator

from service.settings.types import (
    BackfillSetting,
    Interval,
    Name,
    PositiveDuration,
    Section,
    check_http_url,
)


class FeedConfig(Section):
    name: Name
    url: str
    interval: Interval | None = None
    backfill: BackfillSetting | None = None
    allow_private: bool | None = None
    stale_after: PositiveDuration | None = None  # overrides feed_health.stale_after

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, v: str) -> str:
        return check_http_url(v)
