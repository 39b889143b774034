"""Value types the config sections share: durations, sizes, names, backfill, URLs, times of day,
time zones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from service.units import parse_duration, parse_size

Duration = Annotated[float, BeforeValidator(parse_duration)]


def _at_least_a_second(v: float) -> float:
    if v < 1:
        raise ValueError("interval must be at least 1s")
    return v


Interval = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_at_least_a_second)]
Size = Annotated[int, BeforeValidator(parse_size)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


@dataclass(frozen=True)
class Backfill:
    """What a feed's first poll alerts on: nothing, everything, the N newest, or items newer than an age."""

    mode: Literal["none", "all", "newest", "newer_than"]
    count: int = 0
    seconds: float = 0.0


def parse_backfill(value: object) -> Backfill:
    if isinstance(value, Backfill):
        return value
    if isinstance(value, bool):
        raise ValueError(
            "backfill must be none, all, a count such as 10, or a duration such as 24h"
        )
    if isinstance(value, int):
        if value < 0:
            raise ValueError("backfill count cannot be negative")
        return Backfill("newest", count=value)
    text = str(value).strip().lower()
    if text in ("none", "all"):
        return Backfill(text)  # type: ignore[arg-type]
    if text.isdigit():
        return Backfill("newest", count=int(text))
    try:
        return Backfill("newer_than", seconds=parse_duration(text))
    except ValueError:
        raise ValueError(
            f"invalid backfill {value!r}: use none, all, a count such as 10, or a duration such as 24h"
        ) from None


BackfillSetting = Annotated[Backfill, BeforeValidator(parse_backfill)]


def check_http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo the value: destination URLs are secrets.
        raise ValueError("must be an absolute http:// or https:// URL")
    return url


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_time_of_day(value: object) -> time:
    """A local time of day written HH:MM (24-hour), e.g. "08:00" or "17:30"."""
    text = value if isinstance(value, str) else ""
    if not re.fullmatch(r"\d{2}:\d{2}", text.strip()):
        raise ValueError(f"invalid time of day {value!r}: use HH:MM, e.g. 08:00 or 17:30")
    hours, minutes = (int(p) for p in text.strip().split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"invalid time of day {value!r}: use HH:MM between 00:00 and 23:59")
    return time(hours, minutes)


def check_time_zone(value: str) -> str:
    """An IANA time zone name such as Europe/London (or UTC)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as Europe/London or UTC"
        ) from None
    return value


def _positive(v: float) -> float:
    if v <= 0:
        raise ValueError("must be a positive duration such as 10m")
    return v


TimeOfDay = Annotated[time, BeforeValidator(parse_time_of_day)]
TimeZone = Annotated[str, AfterValidator(check_time_zone)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_positive)]
