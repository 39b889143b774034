"""Polite, bounded HTTP fetching of feeds: the poller's only door to the network.

Polite: conditional GET, a descriptive User-Agent, a cap on concurrent requests per host, and
Retry-After honoured by reporting it to the scheduler. Bounded: one deadline for the whole fetch
(a server dripping one byte a second cannot hold us), a cap on the decompressed body (a gzip
bomb stops at the cap), a cap on redirects, and every hop checked by the address guard.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
import structlog

from service.errors import FetchError
from service.netguard import PinnedBackend, Resolver, check_url, private_allowed, system_resolve

log = structlog.get_logger(__name__)

# Brotli is not offered: it is not a dependency, and gzip/deflate are what feed servers send.
# Decompression is done here (not by httpx) so that its output can be capped.
ACCEPT_ENCODING = "gzip, deflate"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
MAX_RETRY_AFTER = 24 * 60 * 60.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Compressed input can legitimately be a little larger than its output (incompressible data).
_RAW_SLACK = 64 * 1024


@dataclass(frozen=True)
class FetchLimits:
    timeout: float = 20.0  # total per fetch, redirects included, seconds
    max_body_bytes: int = 10 * 1024 * 1024  # cap on the DECOMPRESSED body
    max_redirects: int = 5
    per_host: int = 2  # concurrent requests per host
    user_agent: str = "newsalert/0.1 (feed alert service)"
    ca_bundle: str | None = None  # PEM file of CA certificates trusted besides the default ones


def tls_verify(ca_bundle: str | None) -> ssl.SSLContext | bool:
    """Certificates are always checked: against the default CAs, plus those of `ca_bundle`."""
    if ca_bundle is None:
        return True
    context = httpx.create_ssl_context(verify=True)
    context.load_verify_locations(cafile=ca_bundle)
    return context


@dataclass(frozen=True)
class FetchResult:
    status: int  # 2xx, or 304 when the validators still match
    body: bytes  # b"" on 304
    etag: str | None  # on 304 without a new one, the validator that was sent
    last_modified: str | None
    url: str  # final URL after redirects
    content_type: str | None


def make_client(
    limits: FetchLimits,
    *,
    resolver: Resolver = system_resolve,
    verify: ssl.SSLContext | bool | None = None,
) -> httpx.AsyncClient:
    """The one HTTP client of a process. Redirects are followed by hand, hop by hop.

    Every connection goes through `PinnedBackend`: it connects only to addresses it checked,
    under the policy the caller sets with `netguard.private_allowed`. An explicit transport
    also means proxy variables from the environment are not used (a proxy would connect for
    us, past the check). `verify` defaults to the default CAs plus `limits.ca_bundle`.
    """
    if verify is None:
        verify = tls_verify(limits.ca_bundle)
    http_limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    return httpx.AsyncClient(
        transport=_PinnedTransport(http_limits, PinnedBackend(resolver=resolver), verify),
        follow_redirects=False,
        timeout=httpx.Timeout(limits.timeout, connect=min(limits.timeout, 10.0)),
        limits=http_limits,
        headers={
            "User-Agent": limits.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": ACCEPT_ENCODING,
        },
    )


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (error mapping, streaming) over a pool that uses our backend.

    httpx offers no argument for the network backend, so the pool it built is replaced by an
    identical one that has it (httpx is pinned below 0.29; test_network_safety fails if this
    stops working).
    """

    def __init__(
        self, limits: httpx.Limits, backend: PinnedBackend, verify: ssl.SSLContext | bool
    ) -> None:
        super().__init__(limits=limits, verify=verify)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


class Fetcher:
    """Fetches feed URLs through a shared client, within `FetchLimits`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        limits: FetchLimits,
        *,
        resolver: Resolver = system_resolve,
    ) -> None:
        self._client = client
        self._limits = limits
        self._resolver = resolver  # for the early check; the client's backend has its own
        # One slot pool per host; hosts come from config (and their redirects), so few.
        self._slots: dict[str, asyncio.Semaphore] = {}

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        allow_private: bool = False,
    ) -> FetchResult:
        """GET `url`, following redirects; 304 when `etag`/`last_modified` still match.

        Raises FetchError (BlockedAddressError for refused addresses); `retry_after` is set
        when the server asked for a pause.
        """
        headers = {"User-Agent": self._limits.user_agent, "Accept-Encoding": ACCEPT_ENCODING}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            # One deadline for the whole fetch: httpx's own timeouts apply to each read only,
            # so a server dripping a byte a second would never trip them.
            async with asyncio.timeout(self._limits.timeout) as deadline:
                result = await self._follow(url, headers, allow_private, deadline)
        except (TimeoutError, httpx.TimeoutException):
            raise FetchError(
                f"Fetching from {_host(url)} timed out after {self._limits.timeout:g}s."
            ) from None
        if result.status == 304:
            result = _keep_validators(result, etag, last_modified)
        return result

    async def _follow(
        self, url: str, headers: dict[str, str], allow_private: bool, deadline: asyncio.Timeout
    ) -> FetchResult:
        seen = {url}
        for _ in range(self._limits.max_redirects + 1):
            await check_url(url, allow_private=allow_private, resolver=self._resolver)
            host = _host(url)
            async with self._slot(host, deadline):
                try:
                    with private_allowed(allow_private):
                        hop = await self._request(url, host, headers)
                except httpx.TimeoutException:
                    raise
                except httpx.InvalidURL:
                    error = FetchError(f"The URL for {host} is not valid.")
                    error.retriable = False
                    raise error from None
                except httpx.HTTPError as exc:
                    if (untrusted := _certificate_problem(exc)) is not None:
                        raise FetchError(
                            f"The TLS certificate of {host} cannot be trusted ({untrusted}); "
                            "trust a private CA with network.ca_bundle."
                        ) from None
                    raise FetchError(f"Request to {host} failed ({_describe(exc)}).") from None
            if isinstance(hop, FetchResult):
                return hop
            url = hop
            if url in seen:
                raise FetchError(f"Redirect loop at {_host(url)}.")
            seen.add(url)
            log.debug("fetch_redirected", host=host, to_host=_host(url))
        raise FetchError(
            f"Too many redirects (more than {self._limits.max_redirects}) at {_host(url)}."
        )

    @asynccontextmanager
    async def _slot(self, host: str, deadline: asyncio.Timeout) -> AsyncIterator[None]:
        slot = self._slots.setdefault(host, asyncio.Semaphore(self._limits.per_host))
        # Time queued behind our own requests to this host is politeness, not the server's
        # slowness: the deadline moves out by the time spent waiting.
        loop = asyncio.get_running_loop()
        queued = loop.time()
        async with slot:
            when = deadline.when()
            if when is not None:
                deadline.reschedule(when + loop.time() - queued)
            yield

    async def _request(self, url: str, host: str, headers: dict[str, str]) -> FetchResult | str:
        async with self._client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status in _REDIRECTS:
                location: str | None = response.headers.get("location")
                if not location:
                    raise FetchError(f"{host} answered {status} without a Location header.")
                return urljoin(url, location.strip())
            if status == 304:
                body = b""
            elif 200 <= status < 300:
                body = await self._read_body(response, host)
            else:
                raise _status_error(status, host, response.headers.get("retry-after"))
            return FetchResult(
                status=status,
                body=body,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                url=url,
                content_type=response.headers.get("content-type"),
            )

    async def _read_body(self, response: httpx.Response, host: str) -> bytes:
        cap = self._limits.max_body_bytes
        too_large = FetchError(f"The body from {host} is larger than {cap} bytes.")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap + _RAW_SLACK:
            raise too_large
        decoder = _decoder(response.headers.get("content-encoding", ""), host)
        parts: list[bytes] = []
        raw = size = 0
        try:
            async for chunk in response.aiter_raw():
                raw += len(chunk)
                if raw > cap + _RAW_SLACK:
                    raise too_large
                out = decoder.feed(chunk, cap - size)
                size += len(out)
                parts.append(out)
            tail = decoder.finish(cap - size)
        except _BodyTooLargeError:
            raise too_large from None
        except zlib.error:
            raise FetchError(f"The compressed body from {host} is corrupt.") from None
        parts.append(tail)
        return b"".join(parts)


class _BodyTooLargeError(Exception):
    """Decompressed output went past the cap."""


class _Identity:
    def feed(self, data: bytes, room: int) -> bytes:
        if len(data) > room:
            raise _BodyTooLargeError
        return data

    def finish(self, room: int) -> bytes:
        return b""


class _Inflate:
    """zlib/gzip/raw-deflate decoding whose output never exceeds the room it is given."""

    def __init__(self, wbits: int, *, raw_fallback: bool = False) -> None:
        self._inflater = zlib.decompressobj(wbits)
        # HTTP "deflate" should be zlib-wrapped, but some servers send raw deflate.
        self._raw_fallback = raw_fallback
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        if not self._started and self._raw_fallback:
            self._started = True
            try:
                return self._inflate(data, room)
            except zlib.error:
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._started = True
        return self._inflate(data, room)

    def _inflate(self, data: bytes, room: int) -> bytes:
        out = bytearray()
        while data and not self._inflater.eof:
            # Ask for one byte more than fits: getting it proves the body is over the cap.
            chunk = self._inflater.decompress(data, room - len(out) + 1)
            out += chunk
            if len(out) > room:
                raise _BodyTooLargeError
            data = self._inflater.unconsumed_tail
            if not chunk and data:
                break  # no progress; the rest is trailing data
        return bytes(out)

    def finish(self, room: int) -> bytes:
        if not self._started:
            return b""  # empty body
        if not self._inflater.eof:
            raise zlib.error("compressed stream ended early")
        return b""


def _decoder(content_encoding: str, host: str) -> _Identity | _Inflate:
    coding = content_encoding.strip().lower()
    if coding in ("", "identity"):
        return _Identity()
    if coding in ("gzip", "x-gzip"):
        return _Inflate(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _Inflate(zlib.MAX_WBITS, raw_fallback=True)
    raise FetchError(f"{host} sent an unsupported Content-Encoding '{coding[:32]}'.")


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped at 24 h."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _status_error(status: int, host: str, retry_after: str | None) -> FetchError:
    # Every status stays retriable: a feed that 404s today may be back tomorrow, and the
    # scheduler's backoff keeps a dead one cheap; the message says what happened.
    try:
        phrase = f" {HTTPStatus(status).phrase}"
    except ValueError:
        phrase = ""
    return FetchError(
        f"{host} answered {status}{phrase}.",
        retry_after=parse_retry_after(retry_after, datetime.now(UTC)),
        status=status,
    )


def _keep_validators(
    result: FetchResult, etag: str | None, last_modified: str | None
) -> FetchResult:
    """On 304 the server may omit validators; the ones sent are still the current ones."""
    return FetchResult(
        status=result.status,
        body=b"",
        etag=result.etag or etag,
        last_modified=result.last_modified or last_modified,
        url=result.url,
        content_type=result.content_type,
    )


def _describe(exc: httpx.HTTPError) -> str:
    # httpx messages can quote the request URL, whose query may hold a token: class name only,
    # plus the OS reason when there is one ("Connection refused").
    cause = exc.__cause__ or exc.__context__
    reason = getattr(cause, "strerror", None) if cause is not None else None
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__


def _certificate_problem(exc: BaseException) -> str | None:
    """OpenSSL's reason when `exc` comes from a failed certificate check, else None."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or "certificate verify failed")
        seen = seen.__cause__ or seen.__context__
    return None


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "an unknown host"
    except ValueError:
        return "an unknown host"
