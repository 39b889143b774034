"""The config sections that tune one concern each: Kafka, polling, network, delivery, health, logs."""

from __future__ import annotations

import ssl
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from service.fetch import FetchLimits
from service.settings.types import (
    Backfill,
    BackfillSetting,
    Duration,
    Interval,
    Name,
    PositiveDuration,
    Section,
    Size,
)

_FETCH = FetchLimits()


class KafkaSettings(Section):
    bootstrap_servers: str = Field(min_length=1)
    topic_prefix: Name = "newsalert"
    partitions: int = Field(default=6, ge=1, le=1000)
    replication_factor: int = Field(default=1, ge=1, le=10)
    client_id: str = "newsalert"
    # A role that cannot reach the broker for this long exits non-zero so its supervisor restarts it.
    broker_timeout: Duration = 30.0
    # Outcomes each notifier keeps in memory, newest first, so that an alert read again after
    # a crash or a hand-over is not sent twice (consumers/kafka_outbox.py). The window an
    # alert id is recognised in: at 10 alerts a second, 100,000 cover almost three hours.
    remembered_outcomes: int = Field(default=100_000, ge=1000, le=100_000_000)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_"):
            missing = [
                name
                for name in ("sasl_mechanism", "sasl_username", "sasl_password")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"{self.security_protocol} needs {', '.join(missing)}")
        return self


class PollingSettings(Section):
    interval: Interval = 300.0
    backfill: BackfillSetting = Backfill("newer_than", seconds=86400.0)
    # The fetch defaults are FetchLimits' own, so they are written once.
    timeout: Duration = _FETCH.timeout
    max_body: Size = _FETCH.max_body_bytes
    max_redirects: int = Field(default=_FETCH.max_redirects, ge=0, le=20)
    per_host: int = Field(default=_FETCH.per_host, ge=1, le=32)
    concurrency: int = Field(default=16, ge=1, le=256)
    max_items: int = Field(default=1000, ge=1, le=100_000)
    seen_retention: Duration = 90 * 86400.0
    max_backoff: Duration = 3600.0
    user_agent: str = _FETCH.user_agent


class NetworkSettings(Section):
    allow_private: bool = False
    # A PEM file of CA certificates trusted for feed fetches besides the default ones.
    ca_bundle: str | None = None

    @field_validator("ca_bundle")
    @classmethod
    def _loadable(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ssl.create_default_context().load_verify_locations(cafile=value)
        except FileNotFoundError:
            raise ValueError(f"no such file: {value}") from None
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ValueError(f"not a readable PEM file of CA certificates: {reason}") from None
        return value


class DeliverySettings(Section):
    max_attempts: int = Field(default=8, ge=1, le=100)
    initial_backoff: Duration = 1.0
    max_backoff: Duration = 600.0
    timeout: Duration = 10.0


class DeliveryOverrides(Section):
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    initial_backoff: Duration | None = None
    max_backoff: Duration | None = None
    timeout: Duration | None = None


class HealthSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535, description="0 disables the HTTP endpoints")


class FeedHealthSettings(Section):
    """Alerts about the feeds themselves: failing (after `failing_after` failures in a row or
    `failing_for` of failures, whichever first), recovered, stale (no new item for `stale_after`)."""

    destinations: list[Name] = Field(default_factory=list)
    failing_after: int = Field(default=3, ge=1, le=1000)
    failing_for: PositiveDuration = 1800.0
    stale_after: PositiveDuration | None = None


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class StorySettings(Section):
    """Story grouping: copies of one event within `window` share a story and alert once."""

    window: Duration = 48 * 3600.0  # 0 turns grouping off
    max_sources: int = Field(default=20, ge=1, le=1000)  # feeds listed per story, at most
