"""Errors of the shared service layer. `retriable` says whether trying again later may help."""

from __future__ import annotations


class NewsalertError(Exception):
    """Base class: every error a user can cause or meet ends in one clear sentence."""

    retriable = False


class ConfigError(NewsalertError):
    """The config has problems; `problems` holds one line each (file, location, field, fix)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class FeedError(NewsalertError):
    """A feed could not be fetched or parsed. Retriable ones back off and try again."""

    retriable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status  # the HTTP status, when the server answered with an error


class FetchError(FeedError):
    """The HTTP fetch failed (status, transport, timeout, size or redirect limits)."""


class BlockedAddressError(FetchError):
    """The URL resolves to a loopback, private or link-local address and that is not allowed."""


class ParseError(FeedError):
    """The body is not a usable RSS or Atom document."""


class SourceError(NewsalertError):
    """A `newsalert match` source could not be read."""


class InfrastructureError(NewsalertError):
    """The service's own store or message bus failed: no feed or destination is at fault.

    Stages let it propagate: the process ends with its one-sentence message and a non-zero
    exit, and its supervisor starts it again once the disk or broker is back.
    """

    retriable = True


class StoreError(InfrastructureError):
    """The embedded SQLite store cannot be opened, read or written (disk full, read-only...)."""


class BusError(InfrastructureError):
    """A message could not be published to, or read from, the bus."""
