"""Refuse fetches that would reach loopback, private, link-local or otherwise non-public addresses.

Feed and destination URLs come from config that may be edited by people who should not be able
to make the service probe its own network (cloud metadata at 169.254.169.254, admin ports on
localhost). The guard resolves the host and refuses if ANY answer is non-public, so a name with
one public and one private record cannot slip through.

`check_url` is the early, readable refusal. The binding one is `PinnedBackend`: the HTTP
client's network backend resolves the name itself, checks every answer, and connects to the
address it checked, so a DNS server that answers differently the second time (DNS rebinding)
gains nothing. The per-request policy reaches it through a context variable that the caller
sets around the request with `private_allowed(...)`; unset, private addresses are refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit

import httpcore
from httpcore import AsyncNetworkBackend, AsyncNetworkStream

from service.errors import BlockedAddressError, FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> every address of host (tests pass fakes: no test may use real DNS)
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host`; OSError when it gives none."""
    loop = asyncio.get_running_loop()
    answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # A scoped IPv6 answer ("fe80::1%eth0") carries its zone after "%"; the address is before it.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in answers]


# Spelled out from the IANA special-purpose registries rather than read off `is_global`, whose
# answers changed between Python patch releases (CVE-2024-4032).
_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes 255.255.255.255 broadcast
    )
)

# Every public IPv6 unicast address lies in 2000::/3; everything outside it (loopback, ::,
# fc00::/7 unique-local, fe80::/10 link-local, ff00::/8 multicast, reserved) is refused by that.
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "2001::/23",  # IETF protocol assignments, includes Teredo 2001::/32
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
    )
)
# Prefixes that carry an IPv4 address inside: judge them by that address.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def is_public_address(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses a feed could legitimately live on."""
    if isinstance(ip, ipaddress.IPv4Address):
        return not any(ip in net for net in _BLOCKED_V4)
    embedded = _embedded_v4(ip)
    if embedded is not None:
        return is_public_address(embedded)
    if any(ip in net for net in _NAT64):
        return False  # a NAT64 prefix we cannot decode reliably (non-/96 layouts)
    return ip in _GLOBAL_UNICAST_V6 and not any(ip in net for net in _BLOCKED_V6)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, 6to4 or well-known-prefix NAT64 address reaches."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64[0]:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


async def check_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> None:
    """Raise unless `url` is http(s) and, unless allowed, every address of its host is public.

    Messages name the host only: the path and query of a feed or webhook URL can be secrets.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise _permanent("The URL is malformed (bad host or port).") from None
    if parts.scheme not in ("http", "https"):
        # Never echo the scheme's payload; a short scheme name is safe and says what went wrong.
        scheme = parts.scheme[:16] or "none"
        raise _permanent(f"Only http and https URLs can be fetched, not scheme '{scheme}'.")
    if not host:
        raise _permanent("The URL has no host.")
    if allow_private:
        return
    default_port = 443 if parts.scheme == "https" else 80
    for ip in await _resolve(host, port or default_port, resolver or system_resolve):
        if not is_public_address(ip):
            raise BlockedAddressError(
                f"Refused to connect to {host}: it resolves to the non-public address {ip}"
                " (set allow_private to permit it)."
            )


async def checked_addresses(
    host: str, port: int, *, allow_private: bool, resolver: Resolver | None = None
) -> list[IPAddress]:
    """Every address of `host`, for callers that open their own sockets (SMTP); connect only
    to these. Raises BlockedAddressError when one is non-public and private ones are not
    allowed, FetchError (retriable) when the name does not resolve."""
    addresses = await _resolve(host, port, resolver or system_resolve)
    if not allow_private:
        for ip in addresses:
            if not is_public_address(ip):
                raise BlockedAddressError(
                    f"Refused to connect to {host}: it resolves to the non-public address {ip}"
                    " (set allow_private to permit it)."
                )
    return addresses


async def _resolve(host: str, port: int, resolver: Resolver = system_resolve) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]  # a literal needs no DNS
    except ValueError:
        pass
    try:
        addresses = await resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"Could not resolve {host} ({_reason(exc)}).") from None
    if not addresses:
        raise FetchError(f"Could not resolve {host} (no addresses).")
    return addresses


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__


def _permanent(message: str) -> FetchError:
    """A FetchError that retrying cannot fix (the URL itself is wrong)."""
    error = FetchError(message)
    error.retriable = False
    return error


# --- DNS pinning: the check that binds ------------------------------------------------------

_ALLOW_PRIVATE: ContextVar[bool] = ContextVar("newsalert_allow_private", default=False)


@contextmanager
def private_allowed(allow: bool) -> Iterator[None]:
    """Within this block (and the tasks it starts), `PinnedBackend` connections follow `allow`."""
    token = _ALLOW_PRIVATE.set(allow)
    try:
        yield
    finally:
        _ALLOW_PRIVATE.reset(token)


class PinnedBackend(AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses it has resolved and checked.

    TLS is unaffected: httpcore starts TLS on the returned stream with the URL's host name as
    SNI and for certificate checks, and the Host header comes from the URL, not the address.
    """

    def __init__(
        self, inner: AsyncNetworkBackend | None = None, resolver: Resolver = system_resolve
    ) -> None:
        self._inner = inner or httpcore.AnyIOBackend()
        self._resolver = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        try:
            addresses = await _resolve(host, port, self._resolver)
        except FetchError as exc:
            raise httpcore.ConnectError(str(exc)) from None
        if not _ALLOW_PRIVATE.get():
            for ip in addresses:
                if not is_public_address(ip):
                    raise BlockedAddressError(
                        f"Refused to connect to {host}: it resolves to the non-public address"
                        f" {ip} (set allow_private to permit it)."
                    )
        last: Exception | None = None
        for ip in addresses:  # in the resolver's order, as a browser without Happy Eyeballs
            try:
                return await self._inner.connect_tcp(
                    str(ip),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None  # _resolve never returns an empty list
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are not used for feeds or destinations.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
