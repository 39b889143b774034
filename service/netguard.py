"""Refuse fetches that would reach loopback, private, link-local or otherwise non-public addresses.

Feed and destination URLs come from config that may be edited by people who should not be able
to make the service probe its own network (cloud metadata at 169.254.169.254, admin ports on
localhost). The guard resolves the host and refuses if ANY answer is non-public, so a name with
one public and one private record cannot slip through.

Known limit: the HTTP client resolves the name again when it connects, so a DNS server that
answers differently the second time (DNS rebinding) is not caught here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from service.errors import BlockedAddressError, FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

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


async def check_url(url: str, *, allow_private: bool) -> None:
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
    for ip in await _resolve(host, port or (443 if parts.scheme == "https" else 80)):
        if not is_public_address(ip):
            raise BlockedAddressError(
                f"Refused to connect to {host}: it resolves to the non-public address {ip}"
                " (set allow_private to permit it)."
            )


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]  # a literal needs no DNS
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"Could not resolve {host} ({_reason(exc)}).") from None
    # A scoped IPv6 answer ("fe80::1%eth0") carries its zone after "%"; the address is before it.
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in answers]
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
