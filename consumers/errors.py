"""Errors of the consumer stages. `retriable` says whether trying again later may help."""

from __future__ import annotations

from service.errors import NewsalertError


class DeliveryError(NewsalertError):
    """An alert could not be delivered to its destination.

    The message is one sentence meant for logs and the dead letter store. It never contains
    the destination URL or secret: a Slack webhook URL is itself a credential.
    """

    def __init__(self, message: str, *, retriable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retriable = retriable
        # Seconds the receiver asked us to wait (Retry-After), if it said so.
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"DeliveryError({str(self)!r}, retriable={self.retriable}, "
            f"retry_after={self.retry_after})"
        )
