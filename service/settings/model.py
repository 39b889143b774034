"""The whole config: every section, and the per-feed and per-destination effective values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from service.settings.destinations import DestinationConfig
from service.settings.feeds import FeedConfig
from service.settings.sections import (
    DeliverySettings,
    FeedHealthSettings,
    HealthSettings,
    KafkaSettings,
    LoggingSettings,
    NetworkSettings,
    PollingSettings,
    StorySettings,
)
from service.settings.types import Backfill
from service.settings.watchlists import WatchlistConfig

# In Kafka mode a feed's seen items travel in one state record of bounded size.
KAFKA_MAX_ITEMS = 5000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSALERT_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings | None = None
    state_dir: Path = Path("./data")
    polling: PollingSettings = PollingSettings()
    feeds: list[FeedConfig] = Field(default_factory=list)
    watchlists: list[WatchlistConfig] = Field(default_factory=list)
    destinations: list[DestinationConfig] = Field(default_factory=list)
    network: NetworkSettings = NetworkSettings()
    stories: StorySettings = StorySettings()
    # Concept sets by name, merged from the files and mappings listed under `concepts:`.
    concepts: dict[str, list[str]] = Field(default_factory=dict)
    delivery: DeliverySettings = DeliverySettings()
    health: HealthSettings = HealthSettings()
    feed_health: FeedHealthSettings = FeedHealthSettings()
    logging: LoggingSettings = LoggingSettings()
    # The watchlist queries as the config check parsed them, by query text: opaque here (the
    # parser lives in consumers/, which service/ does not import), kept so that compiling the
    # matcher parses nothing a second time, and taken by it so they do not outlive it.
    _parsed_queries: Mapping[str, object] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file is passed as init kwargs; NEWSALERT_* environment variables override it.
        return (_EnvironSource(settings_cls), init_settings)

    @model_validator(mode="after")
    def _kafka_state_fits(self) -> Settings:
        # In Kafka mode a feed's seen items travel in one state record of bounded size.
        if self.kafka is not None and self.polling.max_items > KAFKA_MAX_ITEMS:
            raise ValueError(
                f"polling.max_items can be at most {KAFKA_MAX_ITEMS} in Kafka mode "
                "(a feed's seen items are kept in one Kafka record)"
            )
        return self

    def keep_parsed_queries(self, trees: Mapping[str, object]) -> None:
        """Hold the check's parse trees (by query text) until the matcher is compiled."""
        self._parsed_queries = trees

    def take_parsed_queries(self) -> Mapping[str, object]:
        """The parse trees the check kept, handed over once (empty afterwards)."""
        trees, self._parsed_queries = self._parsed_queries, {}
        return trees

    def feed_interval(self, feed: FeedConfig) -> float:
        return feed.interval if feed.interval is not None else self.polling.interval

    def feed_backfill(self, feed: FeedConfig) -> Backfill:
        return feed.backfill if feed.backfill is not None else self.polling.backfill

    def feed_allow_private(self, feed: FeedConfig) -> bool:
        return feed.allow_private if feed.allow_private is not None else self.network.allow_private

    def feed_stale_after(self, feed: FeedConfig) -> float | None:
        return feed.stale_after if feed.stale_after is not None else self.feed_health.stale_after

    def destination_allow_private(self, dest: DestinationConfig) -> bool:
        return dest.allow_private if dest.allow_private is not None else self.network.allow_private

    def destination_delivery(self, dest: DestinationConfig) -> DeliverySettings:
        overrides = dest.delivery.model_dump(exclude_none=True)
        return self.delivery.model_copy(update=overrides)


ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("newsalert_environ", default=None)


class _EnvironSource(EnvSettingsSource):
    """NEWSALERT_* variables from the mapping `load_settings` was given (os.environ by default)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = ENVIRON.get()
        return parse_env_vars(
            os.environ if environ is None else environ,
            self.case_sensitive,
            self.env_ignore_empty,
            self.env_parse_none_str,
        )
