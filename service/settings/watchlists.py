"""One watchlist of the config: its query and the destinations it alerts."""

from __future__ import annotations

from pydantic import Field

from service.settings.types import Name, Section


class WatchlistConfig(Section):
    name: Name
    query: str = Field(min_length=1, max_length=2000)
    destinations: list[Name] = Field(min_length=1)
    # Its alerts bypass flood limits, digests and quiet hours.
    priority: bool = False
