"""The HTTP part the Slack and webhook adapters share: address check, POST, capped read.

Nothing here puts the URL into an error or a log line: webhook URLs are credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from consumers.errors import DeliveryError
from service import fetch, netguard
from service.errors import BlockedAddressError, FetchError

# Receivers answer with a word or a short JSON document; an error page is only read this far.
MAX_RESPONSE_BYTES = 4096


@dataclass(frozen=True)
class Reply:
    """What the receiver answered: status, the first bytes of the body, Retry-After."""

    status: int
    body: str
    retry_after: str | None


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    http_timeout: float,
    allow_private: bool,
    what: str,
    max_response_bytes: int = MAX_RESPONSE_BYTES,
) -> Reply:
    """POST `content` to `url` and return the reply; transport failures are retriable.

    `what` names the destination in error messages ("slack destination 'markets'").
    `max_response_bytes`: how much of the answer is read (Slack's Web API echoes the message).
    """
    try:
        await netguard.check_url(url, allow_private=allow_private)
    except BlockedAddressError:
        # Our own sentences name only the destination, never anything from its URL.
        raise DeliveryError(
            f"{what} points at a non-public address and allow_private is off", retriable=False
        ) from None
    except FetchError as exc:
        if exc.retriable:
            raise DeliveryError(f"{what} could not be resolved", retriable=True) from None
        raise DeliveryError(f"{what} has an unusable URL", retriable=False) from None
    # Identity encoding keeps a compressed error page from growing past the read cap.
    request_headers = {**headers, "accept-encoding": "identity"}
    try:
        # The client's PinnedBackend checks the addresses it connects to under this policy,
        # so a name that resolves differently at connect time is still refused.
        with netguard.private_allowed(allow_private):
            async with client.stream(
                "POST",
                url,
                content=content,
                headers=request_headers,
                timeout=http_timeout,
                # A redirect would re-POST past the address check to a host nobody configured.
                follow_redirects=False,
            ) as response:
                body = await _read_capped(response, max_response_bytes)
                return Reply(response.status_code, body, response.headers.get("retry-after"))
    except BlockedAddressError:
        raise DeliveryError(
            f"{what} points at a non-public address and allow_private is off", retriable=False
        ) from None
    except httpx.TimeoutException:
        raise DeliveryError(
            f"{what} did not answer within {http_timeout:g}s", retriable=True
        ) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise DeliveryError(f"{what} has an invalid URL", retriable=False) from None
    except httpx.HTTPError as exc:
        # Only the class name: httpx messages can quote the request URL.
        raise DeliveryError(
            f"{what} could not be reached ({type(exc).__name__})", retriable=True
        ) from None


async def _read_capped(response: httpx.Response, cap: int) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= cap:
            break
    return b"".join(chunks)[:cap].decode("utf-8", errors="replace")


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (delta-seconds or HTTP-date, capped at 24 h), as feeds read it."""
    return fetch.parse_retry_after(value, datetime.now(UTC))


def reason_word(body: str) -> str | None:
    """The receiver's short error code (`channel_is_archived`), when the body is just that.

    Anything longer (an HTML page) is left out of messages: it could echo the request.
    """
    word = body.strip()
    if 0 < len(word) <= 64 and all(c.isascii() and (c.isalnum() or c in "_-.") for c in word):
        return word
    return None
