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

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FetchError(FeedError):
    """The HTTP fetch failed (status, transport, timeout, size or redirect limits)."""


class BlockedAddressError(FetchError):
    """The URL resolves to a loopback, private or link-local address and that is not allowed."""


class ParseError(FeedError):
    """The body is not a usable RSS or Atom document."""


class SourceError(NewsalertError):
    """A `newsalert match` source could not be read."""
