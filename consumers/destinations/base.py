"""What every destination adapter offers the notifier."""

from __future__ import annotations

from typing import Protocol

from service.models import Alert


class Destination(Protocol):
    """One configured place alerts go to (a Slack webhook, a signed webhook, the console)."""

    name: str
    # Seconds the notifier keeps between two sends to this destination (Slack: about 1/s).
    min_interval: float

    async def send(self, alert: Alert) -> None:
        """Deliver one alert; raise DeliveryError (retriable or not) when that fails."""
        ...
