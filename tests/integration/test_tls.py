"""TLS for feeds, against a local HTTPS server whose certificate is made here (openssl CLI):
certificates are checked (a self-signed one is a clear feed error, nothing alerted) unless
trusted through `network.ca_bundle`, and SNI carries the URL's host name."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.sample_feeds import CHINA, rss

HOST = "localhost"  # a name, so that SNI has something to carry (an IP literal sends none)


@dataclass
class HttpsFeed:
    url: str
    server_names: list[str | None] = field(default_factory=list)  # SNI seen per handshake
    requests: int = 0


def _self_signed(directory: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl(1) is needed to make the test certificate", pytrace=False)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={HOST}",
         "-addext", f"subjectAltName=DNS:{HOST}"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def https_feed(tmp_path: Path) -> Iterator[tuple[HttpsFeed, Path]]:
    cert, key = _self_signed(tmp_path)
    body = rss([CHINA])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    feed = HttpsFeed(url="")

    def remember_sni(_: ssl.SSLSocket, name: str | None, __: ssl.SSLContext) -> None:
        feed.server_names.append(name)

    context.sni_callback = remember_sni

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            feed.requests += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self):  # type: ignore[no-untyped-def]
            sock, addr = super().get_request()
            return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client refusing our certificate breaks the handshake: expected

    server = Server(("127.0.0.1", 0), Handler)
    feed.url = f"https://{HOST}:{server.server_address[1]}/feed.xml"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield feed, cert
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _config(tmp_path: Path, url: str, network: str) -> Path:
    path = tmp_path / "newsalert.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            state_dir: {tmp_path / "state"}
            health: {{port: 0}}
            logging: {{format: json}}
            network: {{allow_private: true{network}}}
            polling: {{backfill: all, timeout: 5s}}
            feeds: [{{name: tls, url: '{url}'}}]
            watchlists: [{{name: china, query: China, destinations: [console]}}]
            destinations: [{{name: console, type: console}}]
            """
        ),
        encoding="utf-8",
    )
    return path


def test_a_self_signed_certificate_is_a_clear_feed_error(
    tmp_path: Path, https_feed: tuple[HttpsFeed, Path]
) -> None:
    feed, _ = https_feed
    result = run_cli("run", "--once", "-c", str(_config(tmp_path, feed.url, "")))
    assert result.returncode == 0, result.stderr[-3000:]
    assert CHINA.title not in result.stdout  # nothing from an unverified server
    assert feed.requests == 0  # the handshake failed before any request was sent
    failed = [line for line in result.stderr.splitlines() if '"feed_failed"' in line]
    assert len(failed) == 1, result.stderr[-3000:]
    assert "TLS certificate of localhost cannot be trusted" in failed[0], failed[0]
    assert "self-signed certificate" in failed[0], failed[0]
    assert "network.ca_bundle" in failed[0]
    assert "Traceback" not in result.stderr


def test_a_certificate_trusted_through_ca_bundle_is_accepted_and_sni_is_sent(
    tmp_path: Path, https_feed: tuple[HttpsFeed, Path]
) -> None:
    feed, cert = https_feed
    config = _config(tmp_path, feed.url, f", ca_bundle: '{cert}'")
    checked = run_cli("check", "-c", str(config))
    assert checked.returncode == 0, checked.stderr
    result = run_cli("run", "--once", "-c", str(config))
    assert result.returncode == 0, result.stderr[-3000:]
    assert CHINA.title in result.stdout, result.stderr[-3000:]
    assert feed.requests == 1
    assert feed.server_names and set(feed.server_names) == {HOST}


def test_a_ca_bundle_that_is_not_a_pem_file_is_a_config_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n", encoding="utf-8")
    for bundle in (junk, tmp_path / "missing.pem"):
        config = _config(tmp_path, "https://localhost:9/feed.xml", f", ca_bundle: '{bundle}'")
        result = run_cli("check", "-c", str(config))
        assert result.returncode == 2, result.stderr
        assert "network.ca_bundle" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
