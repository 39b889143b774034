"""One destination of the config: its type, address, secret, delivery overrides and holding rules."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, model_validator

from service.settings.holding import DigestConfig, FloodConfig, QuietHoursConfig
from service.settings.sections import DeliveryOverrides
from service.settings.types import Duration, Name, Section, check_http_url
from service.signing import decode_base64_secret


class DestinationConfig(Section):
    name: Name
    type: Literal["slack", "webhook", "console"]
    url: SecretStr | None = None
    secret: SecretStr | None = None
    allow_private: bool | None = None
    min_interval: Duration | None = None
    delivery: DeliveryOverrides = DeliveryOverrides()
    flood: FloodConfig | None = None
    digest: DigestConfig | None = None
    quiet_hours: QuietHoursConfig | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> DestinationConfig:
        if self.type == "console":
            if self.url is not None or self.secret is not None:
                raise ValueError("a console destination takes no url or secret")
            return self
        if self.url is None or not self.url.get_secret_value():
            raise ValueError(f"a {self.type} destination needs a url")
        check_http_url(self.url.get_secret_value())
        if self.type == "slack" and self.secret is not None:
            raise ValueError("a slack destination takes no secret (the webhook URL is the secret)")
        if self.secret is not None:
            _check_webhook_secret(self.secret.get_secret_value())
        return self


def _check_webhook_secret(secret: str) -> None:
    key = decode_base64_secret(secret)
    if key is None:
        raise ValueError('secret must be "whsec_" followed by base64 (Standard Webhooks)')
    if len(key) < 16:
        raise ValueError("secret is too short: use at least 16 random bytes, base64-encoded")
