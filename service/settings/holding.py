"""A destination's flood limit, digest schedule and quiet hours (DESIGN.md "Flood control")."""

from __future__ import annotations

from pydantic import Field, model_validator

from service.settings.types import PositiveDuration, Section, TimeOfDay, TimeZone


class FloodConfig(Section):
    """`flood: {max: 5, per: 10m}`: at most `max` single alerts in any `per`."""

    max: int = Field(ge=1, le=10_000)
    per: PositiveDuration


class DigestConfig(Section):
    """`digest: {every: 1h}` or `digest: {at: ["08:00", "17:30"], timezone: Europe/London}`."""

    every: PositiveDuration | None = None
    at: list[TimeOfDay] | None = Field(default=None, min_length=1, max_length=48)
    timezone: TimeZone = "UTC"

    @model_validator(mode="after")
    def _one_schedule(self) -> DigestConfig:
        if (self.every is None) == (self.at is None):
            raise ValueError('give either every (e.g. 1h) or at (e.g. ["08:00"]), not both')
        if self.every is not None and self.every < 60:
            raise ValueError("every must be at least 1m")
        return self


class QuietHoursConfig(Section):
    """`quiet_hours: {from: "22:00", to: "07:00", timezone: Europe/London}`."""

    start: TimeOfDay = Field(alias="from")
    end: TimeOfDay = Field(alias="to")
    timezone: TimeZone = "UTC"

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursConfig:
        if self.start == self.end:
            raise ValueError("from and to are the same time: quiet hours would never end")
        return self
