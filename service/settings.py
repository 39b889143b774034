"""The config file's schema and its loading: YAML, then `${VAR}` expansion, then NEWSALERT_* overrides.

`load_settings` reports every problem at once, one line each with file, line, column and field,
and never echoes a secret value (destination URLs and signing secrets are `SecretStr`).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from pydantic_settings.sources.utils import parse_env_vars

from service.errors import ConfigError
from service.units import parse_duration, parse_size
from service.yamlconf import Loc, describe_yaml_error, load_yaml

DEFAULT_CONFIG = Path("config/newsalert.yaml")
KAFKA_MAX_ITEMS = 5000

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


def _check_http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo the value: destination URLs are secrets.
        raise ValueError("must be an absolute http:// or https:// URL")
    return url


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Section):
    bootstrap_servers: str = Field(min_length=1)
    topic_prefix: Name = "newsalert"
    partitions: int = Field(default=6, ge=1, le=1000)
    replication_factor: int = Field(default=1, ge=1, le=10)
    client_id: str = "newsalert"
    # A role that cannot reach the broker for this long exits non-zero so its supervisor restarts it.
    broker_timeout: Duration = 30.0
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


class PollingSettings(_Section):
    interval: Interval = 300.0
    backfill: BackfillSetting = Backfill("newer_than", seconds=86400.0)
    timeout: Duration = 20.0
    max_body: Size = 10 * 1024 * 1024
    max_redirects: int = Field(default=5, ge=0, le=20)
    per_host: int = Field(default=2, ge=1, le=32)
    concurrency: int = Field(default=16, ge=1, le=256)
    max_items: int = Field(default=1000, ge=1, le=100_000)
    seen_retention: Duration = 90 * 86400.0
    max_backoff: Duration = 3600.0
    user_agent: str = "newsalert/0.1 (feed alert service)"


class NetworkSettings(_Section):
    allow_private: bool = False


class DeliverySettings(_Section):
    max_attempts: int = Field(default=8, ge=1, le=100)
    initial_backoff: Duration = 1.0
    max_backoff: Duration = 600.0
    timeout: Duration = 10.0


class DeliveryOverrides(_Section):
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    initial_backoff: Duration | None = None
    max_backoff: Duration | None = None
    timeout: Duration | None = None


class FeedConfig(_Section):
    name: Name
    url: str
    interval: Interval | None = None
    backfill: BackfillSetting | None = None
    allow_private: bool | None = None

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, v: str) -> str:
        return _check_http_url(v)


class WatchlistConfig(_Section):
    name: Name
    query: str = Field(min_length=1, max_length=2000)
    destinations: list[Name] = Field(min_length=1)


class DestinationConfig(_Section):
    name: Name
    type: Literal["slack", "webhook", "console"]
    url: SecretStr | None = None
    secret: SecretStr | None = None
    allow_private: bool | None = None
    min_interval: Duration | None = None
    delivery: DeliveryOverrides = DeliveryOverrides()

    @model_validator(mode="after")
    def _fields_for_type(self) -> DestinationConfig:
        if self.type == "console":
            if self.url is not None or self.secret is not None:
                raise ValueError("a console destination takes no url or secret")
            return self
        if self.url is None or not self.url.get_secret_value():
            raise ValueError(f"a {self.type} destination needs a url")
        _check_http_url(self.url.get_secret_value())
        if self.type == "slack" and self.secret is not None:
            raise ValueError("a slack destination takes no secret (the webhook URL is the secret)")
        if self.secret is not None:
            _check_webhook_secret(self.secret.get_secret_value())
        return self


def _check_webhook_secret(secret: str) -> None:
    from consumers.destinations.webhook import decode_base64_secret

    key = decode_base64_secret(secret)
    if key is None:
        raise ValueError('secret must be "whsec_" followed by base64 (Standard Webhooks)')
    if len(key) < 16:
        raise ValueError("secret is too short: use at least 16 random bytes, base64-encoded")


class HealthSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535, description="0 disables the HTTP endpoints")


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


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
    delivery: DeliverySettings = DeliverySettings()
    health: HealthSettings = HealthSettings()
    logging: LoggingSettings = LoggingSettings()

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

    def feed_interval(self, feed: FeedConfig) -> float:
        return feed.interval if feed.interval is not None else self.polling.interval

    def feed_backfill(self, feed: FeedConfig) -> Backfill:
        return feed.backfill if feed.backfill is not None else self.polling.backfill

    def feed_allow_private(self, feed: FeedConfig) -> bool:
        return feed.allow_private if feed.allow_private is not None else self.network.allow_private

    def destination_allow_private(self, dest: DestinationConfig) -> bool:
        return dest.allow_private if dest.allow_private is not None else self.network.allow_private

    def destination_delivery(self, dest: DestinationConfig) -> DeliverySettings:
        overrides = dest.delivery.model_dump(exclude_none=True)
        return self.delivery.model_copy(update=overrides)


_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("newsalert_environ", default=None)


class _EnvironSource(EnvSettingsSource):
    """NEWSALERT_* variables from the mapping `load_settings` was given (os.environ by default)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        return parse_env_vars(
            os.environ if environ is None else environ,
            self.case_sensitive,
            self.env_ignore_empty,
            self.env_parse_none_str,
        )


def resolve_config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """`-c`, then $NEWSALERT_CONFIG, then config/newsalert.yaml."""
    if cli_value:
        return Path(cli_value)
    if environ.get("NEWSALERT_CONFIG"):
        return Path(environ["NEWSALERT_CONFIG"])
    return DEFAULT_CONFIG


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, expand, validate and cross-check the config; raise ConfigError listing every problem."""
    env = os.environ if environ is None else environ
    where = str(path)
    try:
        loaded = load_yaml(path, env)
    except FileNotFoundError:
        raise ConfigError(
            [f"{where}: config file not found (pass -c FILE or set NEWSALERT_CONFIG)"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([f"{where}: cannot read config file: {reason}"]) from None
    except yaml.YAMLError as exc:
        line, col, reason = describe_yaml_error(exc)
        raise ConfigError([f"{where}:{line}:{col}: {reason}"]) from None

    if loaded.data is None:
        raise ConfigError(
            [
                f"{where}: the config file is empty: it needs at least feeds, watchlists "
                "and destinations (see config/newsalert.yaml)"
            ]
        )
    if not isinstance(loaded.data, dict):
        raise ConfigError(
            [
                f"{where}:1:1: the top level must be a mapping of keys such as feeds:, "
                "watchlists:, destinations:"
            ]
        )

    problems = [
        f"{where}:{line}:{col}: {_dotted(loc)}: {msg}" for loc, (line, col), msg in loaded.problems
    ]
    settings: Settings | None = None
    try:
        settings = _build_settings(loaded.data, env)
    except SettingsError as exc:
        # A NEWSALERT_* variable holding a whole section that is not valid JSON.
        field = re.search(r'field "([^"]+)"', str(exc))
        name = f"NEWSALERT_{field.group(1).upper()}" if field else "a NEWSALERT_* variable"
        problems.append(
            f"{where}: environment variable {name}: not valid JSON for a whole section "
            f"({exc.__cause__ or exc}); set single keys instead, e.g. {name}__KEY=value"
        )
    except ValidationError as exc:
        # A value left empty by a missing ${VAR} is already reported as such: say it once.
        unset = {loc for loc, _, _ in loaded.problems}
        problems.extend(
            line
            for loc, line in _describe_validation(exc, where, loaded.positions, loaded.data, env)
            if not any(u[: len(loc)] == loc for u in unset)
        )
    problems.extend(_cross_check(loaded.data, where, loaded.positions))
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    return settings


def _build_settings(data: dict[str, Any], environ: Mapping[str, str]) -> Settings:
    token = _ENVIRON.set(environ)
    try:
        return Settings(**data)
    finally:
        _ENVIRON.reset(token)


def _cross_check(
    data: dict[str, Any], where: str, positions: dict[Loc, tuple[int, int]]
) -> list[str]:
    """Rules across entries, checked on the raw data so they are reported with the type errors."""
    from consumers.matching import QuerySyntaxError, parse_query

    problems: list[str] = []

    def report(loc: Loc, msg: str) -> None:
        problems.append(f"{_position(where, positions, loc)}{_dotted(loc)}: {msg}")

    def entries(section: str) -> list[tuple[int, dict[str, Any]]]:
        value = data.get(section)
        if not isinstance(value, list):
            return []
        return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]

    for section in ("feeds", "watchlists", "destinations"):
        seen: set[str] = set()
        for i, item in entries(section):
            name = item.get("name")
            if isinstance(name, str) and name in seen:
                report((section, i, "name"), f"duplicate name '{name}': names must be unique")
            seen.add(str(name))
    dest_names = {str(d.get("name")) for _, d in entries("destinations")}
    for i, wl in entries("watchlists"):
        name = wl.get("name")
        targets = wl.get("destinations")
        for j, dest in enumerate(targets if isinstance(targets, list) else []):
            if isinstance(dest, str) and dest not in dest_names:
                hint = _suggest(dest, dest_names)
                report(
                    ("watchlists", i, "destinations", j),
                    f"watchlist '{name}' names destination '{dest}', which is not defined{hint}",
                )
        query = wl.get("query")
        if isinstance(query, str) and query.strip():
            try:
                parse_query(query)
            except QuerySyntaxError as exc:
                report(
                    ("watchlists", i, "query"),
                    f"watchlist '{name}': query column {exc.column}: {exc}",
                )
    for section in ("feeds", "watchlists"):
        if not data.get(section):
            report((section,), f"no {section} configured: add at least one under {section}:")
    return problems


def _describe_validation(
    exc: ValidationError,
    where: str,
    positions: dict[Loc, tuple[int, int]],
    data: dict[str, Any],
    environ: Mapping[str, str],
) -> list[tuple[Loc, str]]:
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            allowed = _allowed_keys(loc[:-1], data)
            msg = f"unknown key '{key}'{_suggest(key, allowed)}"
        elif kind == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        variable = _override_of(loc, environ)
        place = f"{where}: {variable}: " if variable else _position(where, positions, loc)
        lines.append((loc, f"{place}{_dotted(loc)}: {msg}"))
    return lines


def _allowed_keys(parent: Loc, data: dict[str, Any]) -> set[str]:
    model: Any = Settings
    for part in parent:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return set()
        annotation = field.annotation
        args = getattr(annotation, "__args__", (annotation,))
        model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return set()
    return set(model.model_fields)


def _suggest(word: str, choices: set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _override_of(loc: Loc, environ: Mapping[str, str]) -> str | None:
    """The NEWSALERT_* variable that set this key (or a section above it), if one did."""
    keys = [str(p).upper() for p in loc if isinstance(p, str)]
    if len(keys) != len(loc):
        return None  # list items cannot be set from the environment
    for end in range(len(keys), 0, -1):
        name = "NEWSALERT_" + "__".join(keys[:end])
        if any(k.upper() == name for k in environ):
            return f"environment variable {name}"
    return None


def _position(where: str, positions: dict[Loc, tuple[int, int]], loc: Loc) -> str:
    for end in range(len(loc), -1, -1):
        if loc[:end] in positions:
            line, col = positions[loc[:end]]
            return f"{where}:{line}:{col}: "
    return f"{where}: (from the environment) "


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
