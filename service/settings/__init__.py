"""The config file's schema, one module per concern, and its loading (`load`).

`types` holds shared value types; `sections` the tuning sections (kafka, polling, network,
delivery, health, feed_health, logging); `holding` a destination's flood, digest and quiet hours;
`feeds`, `watchlists` and `destinations` one entry each; `model`
the whole `Settings`; `load` reads the YAML and reports every problem, one line each.
"""

from service.settings.destinations import DestinationConfig
from service.settings.feeds import FeedConfig
from service.settings.holding import DigestConfig, FloodConfig, QuietHoursConfig
from service.settings.load import DEFAULT_CONFIG, QueryCheck, load_settings, resolve_config_path
from service.settings.model import KAFKA_MAX_ITEMS, Settings
from service.settings.sections import (
    DeliveryOverrides,
    DeliverySettings,
    FeedHealthSettings,
    HealthSettings,
    KafkaSettings,
    LoggingSettings,
    NetworkSettings,
    PollingSettings,
    StorySettings,
)
from service.settings.types import Backfill, parse_backfill
from service.settings.watchlists import WatchlistConfig

__all__ = [
    "DEFAULT_CONFIG",
    "KAFKA_MAX_ITEMS",
    "Backfill",
    "DeliveryOverrides",
    "DeliverySettings",
    "DestinationConfig",
    "DigestConfig",
    "FeedConfig",
    "FeedHealthSettings",
    "FloodConfig",
    "HealthSettings",
    "KafkaSettings",
    "LoggingSettings",
    "NetworkSettings",
    "PollingSettings",
    "QueryCheck",
    "QuietHoursConfig",
    "Settings",
    "StorySettings",
    "WatchlistConfig",
    "load_settings",
    "parse_backfill",
    "resolve_config_path",
]
