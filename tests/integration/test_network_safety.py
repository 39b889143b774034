"""Feed and webhook URLs cannot reach loopback, private or link-local networks unless allowed.

Most tests run the real fetch path against a local server. To test the default policy (private
refused) against a server that must be reachable, `Internet` plays a tiny public internet:
fake DNS answers a few `.test` names with public addresses, and a network backend carries
connections to those public addresses to the local server, below every check. Nothing here
uses real DNS or leaves the machine.
"""

from __future__ import annotations

import ipaddress
import json
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpcore
import httpx
import pytest

from service.errors import BlockedAddressError, FetchError
from service.fetch import Fetcher, FetchLimits, make_client
from service.netguard import IPAddress, PinnedBackend, private_allowed
from tests.support.cli import WEBHOOK_SECRET, run_cli
from tests.support.feed_server import FeedServer, Reply
from tests.support.receivers import WebhookReceiver
from tests.support.sample_feeds import CHINA, rss

PUBLIC_IP = ipaddress.ip_address("93.184.215.14")  # stands for the feed server "out there"
LIMITS = FetchLimits(timeout=5.0)


class Internet:
    """Fake DNS plus a backend that routes PUBLIC_IP to 127.0.0.1 (the test server)."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = records
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        if host not in self.records:
            raise OSError(-2, "Name or service not known")
        return [ipaddress.ip_address(a) for a in self.records[host]]


class _Route(httpcore.AsyncNetworkBackend):
    """Beneath PinnedBackend: a connection to `public` really goes to 127.0.0.1."""

    def __init__(self, public: IPAddress) -> None:
        self._public = str(public)
        self._inner = httpcore.AnyIOBackend()
        self.connected: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connected.append(host)
        target = "127.0.0.1" if host == self._public else host
        return await self._inner.connect_tcp(target, port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def routed_client(internet: Internet) -> tuple[httpx.AsyncClient, _Route]:
    """make_client's client, but with the routing backend beneath the pinning one."""
    client = make_client(LIMITS, resolver=internet.resolve)
    route = _Route(PUBLIC_IP)
    pool = client._transport._pool  # type: ignore[attr-defined]
    pool._network_backend = PinnedBackend(inner=route, resolver=internet.resolve)
    return client, route


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


# --- literal and local addresses: refused before any connection ----------------------------

LOCAL_SPELLINGS = [
    "127.0.0.1",
    "127.1",  # short dotted form
    "2130706433",  # 127.0.0.1 as one decimal number
    "0x7f000001",  # ... and as hex
    "localhost",
    "[::1]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
    "0.0.0.0",  # reaches local services on Linux
]


@pytest.mark.parametrize("host", LOCAL_SPELLINGS)
async def test_every_spelling_of_this_machine_is_refused(server: FeedServer, host: str) -> None:
    server.route("/feed.xml", Reply(body=rss([CHINA])))
    port = server.url().rsplit(":", 1)[1].rstrip("/")
    url = f"http://{host}:{port}/feed.xml"
    async with make_client(LIMITS) as client:
        with pytest.raises(FetchError) as info:
            await Fetcher(client, LIMITS).fetch(url)
    assert isinstance(info.value, BlockedAddressError) or "resolve" in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/",  # AWS, GCP, Azure metadata
        "http://[fd00:ec2::254]/latest/meta-data/",  # AWS metadata over IPv6
        "http://10.0.0.1/feed",
        "http://172.16.5.4/feed",
        "http://192.168.1.1/feed",
        "http://[fe80::1]/feed",
        "http://[fc00::1]/feed",
        "http://100.64.0.1/feed",
    ],
)
async def test_private_and_link_local_networks_are_refused_without_connecting(url: str) -> None:
    internet = Internet({})
    client, route = routed_client(internet)
    async with client:
        with pytest.raises(BlockedAddressError, match="non-public address"):
            await Fetcher(client, LIMITS, resolver=internet.resolve).fetch(url)
    assert route.connected == []


async def test_a_public_feed_is_fetched_under_the_default_policy(server: FeedServer) -> None:
    """The harness itself: with nothing allowed, a public address is fetched normally."""
    url = server.route("/feed.xml", Reply(body=rss([CHINA])))
    port = url.split(":")[2].split("/")[0]
    internet = Internet({"news.test": [str(PUBLIC_IP)]})
    client, route = routed_client(internet)
    async with client:
        result = await Fetcher(client, LIMITS, resolver=internet.resolve).fetch(
            f"http://news.test:{port}/feed.xml"
        )
    assert result.status == 200 and CHINA.title.encode()[:20] in result.body
    assert route.connected == [str(PUBLIC_IP)]  # the pinned, checked address
    assert server.requests[0].headers["host"] == f"news.test:{port}"  # Host kept


# --- DNS answers are checked at connect time, not only before ---------------------------------


async def test_dns_rebinding_after_the_check_is_refused(server: FeedServer) -> None:
    """The name resolves to a public address for the early check, then to 127.0.0.1."""
    server.route("/feed.xml", Reply(body=rss([CHINA])))
    port = server.url().rsplit(":", 1)[1].rstrip("/")
    answers = iter([[str(PUBLIC_IP)]])
    internet = Internet({})

    async def rebinding(host: str, port: int) -> list[IPAddress]:
        internet.lookups.append(host)
        return [ipaddress.ip_address(a) for a in next(answers, ["127.0.0.1"])]

    internet.resolve = rebinding  # type: ignore[method-assign]
    client, route = routed_client(internet)
    async with client:
        with pytest.raises(BlockedAddressError, match=r"non-public address 127\.0\.0\.1"):
            await Fetcher(client, LIMITS, resolver=rebinding).fetch(
                f"http://rebind.test:{port}/feed.xml"
            )
    assert internet.lookups == ["rebind.test", "rebind.test"]  # early check, then connect
    assert route.connected == []
    assert server.requests == []


async def test_a_name_with_one_private_answer_is_refused_at_connect(server: FeedServer) -> None:
    internet = Internet({"mixed.test": [str(PUBLIC_IP), "10.1.2.3"]})
    client, route = routed_client(internet)
    async with client:
        with private_allowed(False), pytest.raises(BlockedAddressError, match=r"10\.1\.2\.3"):
            await client.get("http://mixed.test/feed.xml")  # straight to the client: no pre-check
    assert route.connected == []


async def test_the_client_refuses_private_addresses_when_no_policy_is_set(
    server: FeedServer,
) -> None:
    """Code that forgets `private_allowed` fails closed."""
    url = server.route("/feed.xml", Reply(body=rss([CHINA])))
    async with make_client(LIMITS) as client:
        with pytest.raises(BlockedAddressError):
            await client.get(url)
        with private_allowed(True):
            assert (await client.get(url)).status_code == 200
    assert len(server.requests) == 1


async def test_pinned_connection_uses_the_checked_address_not_a_second_lookup(
    server: FeedServer,
) -> None:
    """allow_private on: the name is resolved once, by the backend, and connected to as is."""
    url = server.route("/feed.xml", Reply(body=rss([CHINA])))
    port = url.split(":")[2].split("/")[0]
    internet = Internet({"feeds.internal.test": ["127.0.0.1"]})
    async with make_client(LIMITS, resolver=internet.resolve) as client:
        result = await Fetcher(client, LIMITS, resolver=internet.resolve).fetch(
            f"http://feeds.internal.test:{port}/feed.xml", allow_private=True
        )
    assert result.status == 200
    assert internet.lookups == ["feeds.internal.test"]
    assert server.requests[0].headers["host"] == f"feeds.internal.test:{port}"


# --- redirects are checked at every hop ------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.test/computeMetadata/v1/",  # a name that resolves to link-local
        "http://localhost/admin",
        "http://[::1]/admin",
        "http://10.0.0.5/",
    ],
)
async def test_redirect_to_a_private_address_is_refused(server: FeedServer, target: str) -> None:
    url = server.route("/feed.xml", Reply.redirect(target))
    port = url.split(":")[2].split("/")[0]
    internet = Internet({"news.test": [str(PUBLIC_IP)], "metadata.test": ["169.254.169.254"]})
    internet.records["localhost"] = ["127.0.0.1"]
    client, route = routed_client(internet)
    async with client:
        with pytest.raises(BlockedAddressError):
            await Fetcher(client, LIMITS, resolver=internet.resolve).fetch(
                f"http://news.test:{port}/feed.xml"
            )
    assert route.connected == [str(PUBLIC_IP)]  # only the first hop was connected
    assert len(server.requests) == 1


# --- the whole service: refusals are reported, the opt-in works per URL ----------------------


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "newsalert.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_run_refuses_private_feeds_and_webhooks_unless_allowed_per_url(
    tmp_path: Path, server: FeedServer
) -> None:
    allowed = server.route("/allowed.xml", Reply(body=rss([CHINA])))
    refused = server.route("/refused.xml", Reply(body=rss([CHINA])))
    with WebhookReceiver(WEBHOOK_SECRET) as open_hook, WebhookReceiver(WEBHOOK_SECRET) as shut:
        config = _config(
            tmp_path,
            f"""\
            state_dir: {tmp_path / "state"}
            health: {{port: 0}}
            polling: {{backfill: all, timeout: 3s}}
            delivery: {{max_attempts: 2, initial_backoff: 100ms, max_backoff: 1s, timeout: 2s}}
            feeds:
              - {{name: allowed, url: "{allowed}", allow_private: true}}
              - {{name: refused, url: "{refused}"}}
              - {{name: metadata, url: "http://169.254.169.254/latest/meta-data/"}}
            watchlists:
              - {{name: china, query: China, destinations: [open, shut]}}
            destinations:
              - {{name: open, type: webhook, url: "{open_hook.url}", secret: "{WEBHOOK_SECRET}",
                  allow_private: true}}
              - {{name: shut, type: webhook, url: "{shut.url}", secret: "{WEBHOOK_SECRET}"}}
            """,
        )
        result = run_cli("run", "--once", "-c", str(config))
        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
        failed = {e["feed"]: e["error"] for e in events if e.get("event") == "feed_failed"}
        assert set(failed) == {"refused", "metadata"}
        assert "non-public address 127.0.0.1" in failed["refused"]
        assert "non-public address 169.254.169.254" in failed["metadata"]
        assert [urlpath(r.path) for r in server.requests] == ["/allowed.xml"]
        # The allowed destination got the alert; the other was refused before connecting.
        assert [r.json()["data"]["article"]["title"] for r in open_hook.received] == [CHINA.title]
        assert shut.received == []
        dead = [e for e in events if e.get("event") == "alert_dead_lettered"]
        assert [(e["destination"], e["retriable"]) for e in dead] == [("shut", False)]
        assert "non-public address" in dead[0]["error"]
        assert shut.url not in result.stderr


def urlpath(path: str) -> str:
    return path.split("?", 1)[0]


def test_global_opt_in_allows_loopback(tmp_path: Path, server: FeedServer) -> None:
    url = server.route("/feed.xml", Reply(body=rss([CHINA])))
    config = _config(
        tmp_path,
        f"""\
        state_dir: {tmp_path / "state"}
        health: {{port: 0}}
        network: {{allow_private: true}}
        polling: {{backfill: all}}
        feeds: [{{name: local, url: "{url}"}}]
        watchlists: [{{name: china, query: China, destinations: [console]}}]
        destinations: [{{name: console, type: console}}]
        """,
    )
    result = run_cli("run", "--once", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert CHINA.title in result.stdout
    assert len(server.requests) == 1
