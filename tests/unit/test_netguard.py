"""Which addresses the fetch guard treats as public, and what check_url refuses without DNS."""

from __future__ import annotations

import ipaddress

import pytest

from service.errors import BlockedAddressError, FetchError
from service.netguard import check_url, is_public_address

NOT_PUBLIC = [
    "127.0.0.1",  # loopback
    "127.255.255.254",
    "10.1.2.3",  # private
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata (link-local)
    "100.64.0.1",  # carrier-grade NAT
    "100.127.255.255",
    "0.0.0.0",  # unspecified
    "0.1.2.3",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",  # broadcast
    "192.0.2.10",  # documentation
    "198.18.0.1",  # benchmarking
    "::1",
    "::",
    "fc00::1",  # unique local
    "fd12:3456::1",
    "fe80::1",  # link-local
    "fec0::1",  # deprecated site-local
    "ff02::1",  # multicast
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",  # IPv4-mapped metadata
    "::ffff:10.0.0.1",
    "::127.0.0.1",  # deprecated IPv4-compatible
    "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 wrapping 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64 wrapping 169.254.169.254
    "64:ff9b::10.0.0.1",
    "64:ff9b:1::1",  # local-use NAT64
    "2001:db8::1",  # documentation
    "2001::1",  # Teredo
    "100::1",  # discard-only
]

PUBLIC = [
    "1.1.1.1",
    "8.8.8.8",
    "93.184.215.14",
    "172.15.255.255",  # just below 172.16/12
    "172.32.0.0",  # just above it
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above it
    "169.253.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "2002:0808:0808::1",  # 6to4 wrapping 8.8.8.8
    "64:ff9b::8.8.8.8",  # NAT64 wrapping 8.8.8.8
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is True


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://127.0.0.1:8080/admin?token=s3cret",
        "https://[::1]/feed",
        "http://[::ffff:169.254.169.254]/",
        "http://10.0.0.5/rss",
    ],
)
async def test_check_url_blocks_private_literals_and_names_only_the_host(url: str) -> None:
    with pytest.raises(BlockedAddressError) as caught:
        await check_url(url, allow_private=False)
    message = str(caught.value)
    assert "allow_private" in message
    assert "latest" not in message
    assert "s3cret" not in message
    assert "/feed" not in message


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/feed", "http://169.254.169.254/", "http://localhost:9/"],
)
async def test_check_url_allows_private_when_configured(url: str) -> None:
    await check_url(url, allow_private=True)


async def test_check_url_allows_public_literal() -> None:
    await check_url("https://1.1.1.1/feed.xml", allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.org/feed.xml",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "javascript:alert(1)",
        "feed.xml",
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
async def test_check_url_refuses_other_schemes_permanently(url: str, allow_private: bool) -> None:
    with pytest.raises(FetchError) as caught:
        await check_url(url, allow_private=allow_private)
    assert not isinstance(caught.value, BlockedAddressError)
    assert caught.value.retriable is False
    assert "passwd" not in str(caught.value)
    assert "FLUSHALL" not in str(caught.value)


async def test_check_url_refuses_url_without_host() -> None:
    with pytest.raises(FetchError, match="no host") as caught:
        await check_url("http:///feed.xml", allow_private=True)
    assert caught.value.retriable is False
