"""One destination of the config: its type, address, secrets, delivery overrides and
holding rules (flood, digest, quiet hours).

One model for every type, checked per type after parsing, so `newsalert check` says in one
line which key a type is missing or does not take (a discriminated union would report every
other type's fields too). Every address, token and password is a SecretStr: never shown.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from service.settings.holding import DigestConfig, FloodConfig, QuietHoursConfig
from service.settings.sections import DeliveryOverrides
from service.settings.types import Duration, Name, Section, check_http_url
from service.signing import decode_base64_secret

SLACK_API_URL = "https://slack.com/api"

DestinationType = Literal[
    "slack", "webhook", "console", "discord", "teams", "ntfy", "telegram", "email"
]

# The keys each type may carry besides name, type, allow_private, min_interval and delivery.
_ALLOWED: dict[str, frozenset[str]] = {
    "console": frozenset(),
    "webhook": frozenset({"url", "secret", "updates"}),
    "slack": frozenset({"url", "token", "channel", "api_url", "updates"}),
    "discord": frozenset({"url"}),
    "teams": frozenset({"url"}),
    "ntfy": frozenset({"url", "token"}),
    "email": frozenset({"host", "port", "tls", "username", "password", "from_", "to"}),
    "telegram": frozenset({"bot_token", "chat_id", "api_url"}),
}
_OPTIONAL_KEYS = (
    "url",
    "secret",
    "token",
    "channel",
    "api_url",
    "updates",
    "host",
    "port",
    "tls",
    "username",
    "password",
    "from_",
    "to",
    "bot_token",
    "chat_id",
)


class DestinationConfig(Section):
    name: Name
    type: DestinationType
    url: SecretStr | None = None
    secret: SecretStr | None = None
    # slack app mode, ntfy (token only), telegram (api_url only)
    token: SecretStr | None = None
    channel: str | None = None
    api_url: SecretStr | None = None
    # webhook: true sends later copies of a story as newsalert.story.updated events;
    # slack app mode: thread or edit.
    updates: bool | Literal["thread", "edit"] | None = None
    # email
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    tls: Literal["starttls", "tls", "none"] | None = None
    username: SecretStr | None = None
    password: SecretStr | None = None
    from_: str | None = Field(default=None, alias="from")
    to: list[str] | None = None
    # telegram
    bot_token: SecretStr | None = None
    chat_id: str | int | None = None
    allow_private: bool | None = None
    min_interval: Duration | None = None
    delivery: DeliveryOverrides = DeliveryOverrides()
    flood: FloodConfig | None = None
    digest: DigestConfig | None = None
    quiet_hours: QuietHoursConfig | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> DestinationConfig:
        allowed = _ALLOWED[self.type]
        for key in _OPTIONAL_KEYS:
            if key not in allowed and getattr(self, key) is not None:
                shown = "from" if key == "from_" else key
                article = "an" if self.type[0] in "aeiou" else "a"
                raise ValueError(f"{article} {self.type} destination takes no {shown}")
        check = _CHECKS.get(str(self.type))
        if check is not None:
            check(self)
        return self

    @property
    def app_mode(self) -> bool:
        """A Slack destination posting through the Web API (token and channel), not a webhook."""
        return self.type == "slack" and self.token is not None

    @property
    def takes_story_updates(self) -> bool:
        """Later copies of a story go to it: a webhook with `updates: true`, or Slack app mode
        with `updates: thread` or `edit` (the type checks allow nothing else)."""
        return self.updates is True or (self.app_mode and self.updates in ("thread", "edit"))

    @property
    def slack_api_url(self) -> str:
        """The Slack Web API root of an app-mode destination (`api_url`, else Slack's own)."""
        return _secret(self.api_url).rstrip("/") or SLACK_API_URL


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _need_url(cfg: DestinationConfig) -> None:
    if not _secret(cfg.url):
        raise ValueError(f"a {cfg.type} destination needs a url")
    check_http_url(_secret(cfg.url))


def _check_webhook(cfg: DestinationConfig) -> None:
    _need_url(cfg)
    if cfg.updates is not None and not isinstance(cfg.updates, bool):
        raise ValueError("updates for a webhook is true or false (story updates on or off)")
    if cfg.secret is not None:
        _check_webhook_secret(_secret(cfg.secret))


def _check_slack(cfg: DestinationConfig) -> None:
    if cfg.url is not None:
        for key in ("token", "channel", "api_url", "updates"):
            if getattr(cfg, key) is not None:
                raise ValueError(
                    f"a slack destination takes a url (incoming webhook) or token and channel "
                    f"(app mode), not both: remove {key} or url"
                )
        _need_url(cfg)
        return
    if cfg.token is None and cfg.channel is None:
        raise ValueError("a slack destination needs a url (incoming webhook) or token and channel")
    if not _secret(cfg.token):
        raise ValueError("a slack destination in app mode needs a token (a bot token, xoxb-...)")
    if any(c.isspace() for c in _secret(cfg.token)):
        raise ValueError("token is not a Slack token (it has spaces or line breaks)")
    if not cfg.channel or not cfg.channel.strip():
        raise ValueError("a slack destination in app mode needs a channel (an id like C0123456789)")
    if cfg.updates is not None and cfg.updates not in ("thread", "edit"):
        raise ValueError("updates for slack app mode is thread or edit")
    if cfg.api_url is not None:
        _check_api_url(cfg)


def _check_api_url(cfg: DestinationConfig) -> None:
    try:
        check_http_url(_secret(cfg.api_url))
    except ValueError:
        raise ValueError("api_url must be an absolute http:// or https:// URL") from None


def _check_ntfy(cfg: DestinationConfig) -> None:
    _need_url(cfg)
    parts = urlsplit(_secret(cfg.url))
    topic = parts.path.rstrip("/").rpartition("/")[2]
    if not topic or parts.query or parts.fragment:
        raise ValueError("an ntfy url is the server and the topic, as https://ntfy.sh/mytopic")
    if not _NTFY_TOPIC.fullmatch(topic):
        raise ValueError("the ntfy topic (the url's last part) takes only letters, digits, - and _")
    if cfg.token is not None and not _secret(cfg.token):
        raise ValueError("token is empty: remove it or set it")
    if cfg.token is not None and not _header_safe(_secret(cfg.token)):
        raise ValueError("token has spaces, line breaks or non-ASCII characters")


# ntfy's own rule for topic names.
_NTFY_TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")


def _header_safe(value: str) -> bool:
    return all(c.isascii() and c.isprintable() and c != " " for c in value)


def _check_email(cfg: DestinationConfig) -> None:
    if not cfg.host:
        raise ValueError("an email destination needs a host")
    if not all(c.isalnum() or c in ".-:[]" for c in cfg.host) or not cfg.host.isascii():
        raise ValueError("host is the SMTP server's name or IP address, not a URL")
    if cfg.port is None:
        raise ValueError("an email destination needs a port")
    if cfg.tls is None:
        raise ValueError("an email destination needs tls: starttls, tls or none")
    if not cfg.from_ or not _is_address(cfg.from_):
        raise ValueError("an email destination needs from: one email address")
    if not cfg.to:
        raise ValueError("an email destination needs to: a list of email addresses")
    for i, address in enumerate(cfg.to):
        if not _is_address(address):
            raise ValueError(f"to[{i}] is not an email address")
    if (cfg.username is None) != (cfg.password is None):
        raise ValueError("an email destination takes username and password together")
    if cfg.username is not None and cfg.tls == "none":
        raise ValueError(
            "an email destination with a password needs tls: starttls or tls"
            " (with tls: none the password would cross the network in clear)"
        )


def _is_address(value: str) -> bool:
    # One plain addr-spec; no display names, no line breaks (header injection), no commas.
    if any(c in value for c in '\r\n,<>"; ') or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    return bool(local) and bool(domain) and value.isprintable()


def _check_telegram(cfg: DestinationConfig) -> None:
    if not _secret(cfg.bot_token):
        raise ValueError("a telegram destination needs a bot_token")
    if any(c in _secret(cfg.bot_token) for c in "/?#% \r\n"):
        raise ValueError("bot_token is not a Telegram bot token (it has /, ?, # or spaces)")
    if cfg.chat_id is None or cfg.chat_id == "":
        raise ValueError("a telegram destination needs a chat_id")
    if isinstance(cfg.chat_id, str) and not _TELEGRAM_CHAT.fullmatch(cfg.chat_id):
        raise ValueError("chat_id is a number (-100… for groups) or an @channel name")
    if cfg.api_url is not None:
        _check_api_url(cfg)


# A numeric chat id, or a public channel's @username (5 to 32 letters, digits and _).
_TELEGRAM_CHAT = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31}")

_CHECKS = {
    "webhook": _check_webhook,
    "slack": _check_slack,
    "discord": _need_url,
    "teams": _need_url,
    "ntfy": _check_ntfy,
    "email": _check_email,
    "telegram": _check_telegram,
}


def _check_webhook_secret(secret: str) -> None:
    key = decode_base64_secret(secret)
    if key is None:
        raise ValueError('secret must be "whsec_" followed by base64 (Standard Webhooks)')
    if len(key) < 16:
        raise ValueError("secret is too short: use at least 16 random bytes, base64-encoded")
