"""Value types the config sections share: durations, sizes, names, backfill, URLs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

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
