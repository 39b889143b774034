"""The fetcher against a real HTTP server on 127.0.0.1: what a feed operator would notice."""

from __future__ import annotations

import asyncio
import gzip
import re
import socket
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from service.errors import BlockedAddressError, FetchError
from service.fetch import Fetcher, FetchLimits, FetchResult, make_client, parse_retry_after
from service.netguard import check_url
from tests.support.feed_server import FeedServer, Reply, conditional

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
MIB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


@asynccontextmanager
async def fetcher_with(**limits: float) -> AsyncIterator[Fetcher]:
    settings = FetchLimits(**limits)  # type: ignore[arg-type]
    async with make_client(settings) as client:
        yield Fetcher(client, settings)


async def fetch(url: str, *, allow_private: bool = True, **limits: float) -> FetchResult:
    async with fetcher_with(**limits) as fetcher:
        return await fetcher.fetch(url, allow_private=allow_private)


async def test_ok_feed_returns_body_and_metadata(server: FeedServer) -> None:
    url = server.route(
        "/feed.xml",
        Reply(body=FEED, headers={"Content-Type": "application/rss+xml", "ETag": '"abc"'}),
    )
    async with fetcher_with() as fetcher:
        result = await fetcher.fetch(url, allow_private=True)
    assert result.status == 200
    assert result.body == FEED
    assert result.etag == '"abc"'
    assert result.url == url
    assert result.content_type == "application/rss+xml"
    [request] = server.requests
    assert request.headers["user-agent"].startswith("newsalert/")
    assert "br" not in request.headers["accept-encoding"]
    assert "if-none-match" not in request.headers


async def test_validators_round_trip_gives_304_without_body(server: FeedServer) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    url = server.route("/feed.xml", conditional(FEED, etag='"v1"', last_modified=stamp))
    async with fetcher_with() as fetcher:
        first = await fetcher.fetch(url, allow_private=True)
        second = await fetcher.fetch(
            url, etag=first.etag, last_modified=first.last_modified, allow_private=True
        )
    assert (first.status, first.body, first.etag, first.last_modified) == (200, FEED, '"v1"', stamp)
    assert (second.status, second.body) == (304, b"")
    assert (second.etag, second.last_modified) == ('"v1"', stamp)
    sent = server.requests[1].headers
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == stamp


async def test_last_modified_alone_is_sent_and_honoured(server: FeedServer) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    url = server.route("/feed.xml", conditional(FEED, last_modified=stamp))
    async with fetcher_with() as fetcher:
        result = await fetcher.fetch(url, last_modified=stamp, allow_private=True)
    assert result.status == 304
    assert result.last_modified == stamp


async def test_304_without_validators_keeps_the_ones_sent(server: FeedServer) -> None:
    url = server.route("/feed.xml", Reply(status=304))
    async with fetcher_with() as fetcher:
        result = await fetcher.fetch(url, etag='"v7"', last_modified="x", allow_private=True)
    assert (result.status, result.etag, result.last_modified) == (304, '"v7"', "x")


async def test_429_reports_retry_after_and_hides_query(server: FeedServer) -> None:
    url = server.route("/feed.xml", Reply(status=429, headers={"Retry-After": "120"}))
    with pytest.raises(FetchError) as caught:
        await fetch(url + "?token=s3cret")
    error = caught.value
    assert error.retriable is True
    assert error.retry_after == 120
    assert "429" in str(error)
    assert "127.0.0.1" in str(error)
    assert "s3cret" not in str(error)
    assert "feed.xml" not in str(error)


async def test_503_with_http_date_retry_after(server: FeedServer) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    url = server.route("/feed.xml", Reply(status=503, headers={"Retry-After": later}))
    with pytest.raises(FetchError, match="503") as caught:
        await fetch(url)
    assert caught.value.retriable is True
    assert caught.value.retry_after is not None
    assert 80 <= caught.value.retry_after <= 90


async def test_absurd_retry_after_is_capped_to_a_day(server: FeedServer) -> None:
    url = server.route("/feed.xml", Reply(status=429, headers={"Retry-After": "99999999"}))
    with pytest.raises(FetchError) as caught:
        await fetch(url)
    assert caught.value.retry_after == 24 * 3600


@pytest.mark.parametrize("status", [500, 502, 404, 410, 401, 403])
async def test_error_statuses_stay_retriable_and_name_the_status(
    server: FeedServer, status: int
) -> None:
    url = server.route("/feed.xml", Reply(status=status, body=b"<html>oops</html>"))
    with pytest.raises(FetchError, match=str(status)) as caught:
        await fetch(url)
    assert caught.value.retriable is True
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(body=b"x" * 100, drip=0.2), id="body-drips-a-byte-at-a-time"),
        pytest.param(Reply(body=FEED, delay=5), id="headers-never-come"),
    ],
)
async def test_slow_server_fails_by_the_total_timeout(server: FeedServer, reply: Reply) -> None:
    url = server.route("/feed.xml", reply)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 1s") as caught:
        await fetch(url, timeout=1.0)
    assert time.monotonic() - started < 2.0
    assert caught.value.retriable is True


async def test_gzip_bomb_stops_at_the_cap_quickly_and_small(server: FeedServer) -> None:
    bomb = Reply.gzip_bomb(200 * MIB)  # ~200 KB on the wire, built before measuring
    url = server.route("/bomb.xml", bomb)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match=f"larger than {MIB} bytes"):
            await fetch(url, max_body_bytes=MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 5
    assert peak < 16 * MIB


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as the RFC says
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),  # raw, as IIS sends
    ],
)
async def test_compressed_feed_is_decompressed(
    server: FeedServer, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    body = FEED * 1000
    url = server.route(
        "/feed.xml", Reply(body=compress(body), headers={"Content-Encoding": encoding})
    )
    result = await fetch(url)
    assert result.body == body


async def test_body_exactly_at_the_cap_is_accepted(server: FeedServer) -> None:
    body = b"a" * 4096
    plain = server.route("/plain.xml", Reply(body=body))
    packed = server.route(
        "/packed.xml", Reply(body=gzip.compress(body), headers={"Content-Encoding": "gzip"})
    )
    assert (await fetch(plain, max_body_bytes=4096)).body == body
    assert (await fetch(packed, max_body_bytes=4096)).body == body


@pytest.mark.parametrize("content_length", [True, False])
async def test_plain_body_over_the_cap_fails(server: FeedServer, content_length: bool) -> None:
    url = server.route("/big.xml", Reply(body=b"a" * (MIB + 1), content_length=content_length))
    with pytest.raises(FetchError, match=f"larger than {MIB // 2} bytes"):
        await fetch(url, max_body_bytes=MIB // 2)


async def test_corrupt_gzip_fails_clearly(server: FeedServer) -> None:
    url = server.route(
        "/feed.xml", Reply(body=b"this is not gzip", headers={"Content-Encoding": "gzip"})
    )
    with pytest.raises(FetchError, match="corrupt"):
        await fetch(url)


async def test_unsupported_encoding_fails_clearly(server: FeedServer) -> None:
    url = server.route("/feed.xml", Reply(body=b"\x1b\x00", headers={"Content-Encoding": "br"}))
    with pytest.raises(FetchError, match="Content-Encoding 'br'"):
        await fetch(url)


async def test_redirect_chain_within_limit_is_followed(server: FeedServer) -> None:
    final = server.route("/final.xml", Reply(body=FEED))
    server.route("/hop3", Reply.redirect("/final.xml", status=308))  # relative Location
    server.route("/hop2", Reply.redirect(server.url("/hop3"), status=307))
    start = server.route("/hop1", Reply.redirect(server.url("/hop2"), status=301))
    result = await fetch(start, max_redirects=3)
    assert result.body == FEED
    assert result.url == final
    assert [r.path for r in server.requests] == ["/hop1", "/hop2", "/hop3", "/final.xml"]
    assert all(r.headers["user-agent"].startswith("newsalert/") for r in server.requests)


async def test_redirect_loop_fails(server: FeedServer) -> None:
    server.route("/a", Reply.redirect(server.url("/b")))
    url = server.route("/b", Reply.redirect(server.url("/a")))
    with pytest.raises(FetchError, match="loop"):
        await fetch(url)
    assert len(server.requests) == 2


async def test_redirect_chain_over_limit_fails(server: FeedServer) -> None:
    for n in range(5):
        server.route(f"/r{n}", Reply.redirect(f"/r{n + 1}"))
    server.route("/r5", Reply(body=FEED))
    with pytest.raises(FetchError, match="Too many redirects"):
        await fetch(server.url("/r0"), max_redirects=2)
    assert len(server.requests) == 3  # the first request and two redirects, no more


async def test_redirect_without_location_fails(server: FeedServer) -> None:
    url = server.route("/feed.xml", Reply(status=302))
    with pytest.raises(FetchError, match="without a Location"):
        await fetch(url)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1:70/x"])
async def test_redirect_to_other_scheme_is_refused_every_hop(
    server: FeedServer, target: str
) -> None:
    url = server.route("/feed.xml", Reply.redirect(target))
    with pytest.raises(FetchError, match="Only http and https") as caught:
        await fetch(url)
    assert caught.value.retriable is False
    assert len(server.requests) == 1


async def test_invalid_url_fails_permanently_without_echoing_it() -> None:
    with pytest.raises(FetchError, match="not valid") as caught:
        await fetch("http://feeds.example\x00/rss?token=s3cret")
    assert caught.value.retriable is False
    assert "s3cret" not in str(caught.value)


async def test_loopback_server_is_refused_unless_allowed(server: FeedServer) -> None:
    url = server.route("/feed.xml", Reply(body=FEED))
    with pytest.raises(BlockedAddressError, match=re.escape("127.0.0.1")):
        await fetch(url, allow_private=False)
    assert server.requests == []  # refused before connecting


async def test_metadata_address_is_refused() -> None:
    # What a malicious redirect would point at; an IP literal needs no DNS or network.
    with pytest.raises(BlockedAddressError, match=re.escape("169.254.169.254")):
        await check_url("http://169.254.169.254/latest/meta-data/", allow_private=False)


async def test_names_are_resolved_and_every_answer_checked() -> None:
    # "localhost" resolves from the hosts file, so no internet is needed.
    with pytest.raises(BlockedAddressError, match="localhost"):
        await check_url("http://localhost:8080/feed.xml", allow_private=False)


async def test_per_host_limit_holds_and_queueing_does_not_eat_the_timeout(
    server: FeedServer,
) -> None:
    # Six fetches, two at a time, 0.4 s each: 1.2 s in all, more than the 1 s timeout, which
    # must only count time spent talking to the server.
    url = server.route("/feed.xml", Reply(body=FEED, delay=0.4))
    async with fetcher_with(per_host=2, timeout=1.0) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(url, allow_private=True) for _ in range(6)))
    assert [r.body for r in results] == [FEED] * 6
    assert server.max_in_flight == 2


async def test_other_hosts_are_not_held_up_by_a_busy_one(server: FeedServer) -> None:
    # 127.0.0.1 and localhost are distinct hosts to the limiter, though one server here.
    slow = server.route("/slow.xml", Reply(body=FEED, delay=0.5))
    quick = server.url("/slow.xml").replace("127.0.0.1", "localhost")
    async with fetcher_with(per_host=1) as fetcher:
        results = await asyncio.gather(
            fetcher.fetch(slow, allow_private=True), fetcher.fetch(quick, allow_private=True)
        )
    assert [r.status for r in results] == [200, 200]
    assert server.max_in_flight == 2


async def test_connection_refused_names_host_and_is_retriable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match=re.escape("127.0.0.1")) as caught:
        await fetch(f"http://127.0.0.1:{port}/feed.xml?key=s3cret")
    assert caught.value.retriable is True
    assert "s3cret" not in str(caught.value)


NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("0", 0.0),
        ("30", 30.0),
        ("  45 ", 45.0),
        ("Wed, 01 Jan 2025 12:02:00 GMT", 120.0),
        ("Wed, 01 Jan 2025 11:00:00 GMT", 0.0),  # in the past: no wait
        ("100000000", 86400.0),
        ("soon", None),
        ("-5", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected
