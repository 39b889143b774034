"""A real HTTP server on 127.0.0.1:0 for integration tests, scripted per route.

    with FeedServer() as server:
        url = server.route("/feed.xml", Reply(body=b"<rss/>", headers={"ETag": '"v1"'}))
        ...
        assert server.requests[0].headers["user-agent"].startswith("newsalert")

A route answers with a fixed `Reply` or with a function of the `ReceivedRequest` (see
`conditional` and `sequence`). Replies can wait before answering (`delay`), drip the body
(`drip`), redirect, or carry a gzip bomb. The server records every request it received and the
highest number of requests it was serving at once (`max_in_flight`). It runs in threads, so
both sync and async tests can use it; unknown paths answer 404.
"""

from __future__ import annotations

import sys
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str  # with the query string, as sent
    headers: Mapping[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before the status line
    drip: float = 0.0  # seconds to wait before each `drip_size` bytes of body; 0: all at once
    drip_size: int = 1
    content_length: bool = True  # False: no Content-Length, the body ends when the server closes

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status=status, headers={"Location": location})

    @classmethod
    def gzip_bomb(cls, size: int) -> Reply:
        """`size` bytes of zeros, gzip-compressed (about 1/1000 of `size` on the wire)."""
        return cls(body=gzip_zeros(size), headers={"Content-Encoding": "gzip"})


Responder = Reply | Callable[[ReceivedRequest], Reply]


def conditional(
    body: bytes,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    content_type: str = "application/rss+xml",
) -> Callable[[ReceivedRequest], Reply]:
    """A responder that answers 304 when the request's validators match, else 200 with `body`."""
    validators = {"Content-Type": content_type}
    if etag is not None:
        validators["ETag"] = etag
    if last_modified is not None:
        validators["Last-Modified"] = last_modified

    def respond(request: ReceivedRequest) -> Reply:
        if_none_match = request.headers.get("if-none-match")
        if_modified_since = request.headers.get("if-modified-since")
        if (etag is not None and if_none_match == etag) or (
            if_none_match is None
            and last_modified is not None
            and if_modified_since == last_modified
        ):
            return Reply(status=304, headers=validators)
        return Reply(body=body, headers=validators)

    return respond


def sequence(*replies: Reply) -> Callable[[ReceivedRequest], Reply]:
    """A responder giving `replies` in order, then repeating the last one."""
    remaining = list(replies)
    lock = threading.Lock()

    def respond(_: ReceivedRequest) -> Reply:
        with lock:
            return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return respond


@lru_cache(maxsize=4)
def gzip_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = []
    for start in range(0, size, len(block)):
        parts.append(compressor.compress(block[: size - start]))
    parts.append(compressor.flush())
    return b"".join(parts)


class FeedServer:
    """Threaded HTTP/1.0 server on 127.0.0.1 with an OS-chosen port; see the module docstring."""

    def __init__(self) -> None:
        self._routes: dict[str, Responder] = {}
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []  # exceptions raised while serving, for debugging

    def start(self) -> FeedServer:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends drips and delays early
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def route(self, path: str, responder: Responder) -> str:
        """Answer requests for `path` (query ignored) with `responder`; returns its URL."""
        with self._lock:
            self._routes[path] = responder
        return self.url(path)

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[ReceivedRequest]:
        return [r for r in self.requests if urlsplit(r.path).path == path]

    @property
    def max_in_flight(self) -> int:
        """The most requests this server was handling at the same moment."""
        with self._lock:
            return self._max_in_flight

    # Called from the handler threads.

    def _begin(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _reply_to(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            responder = self._routes.get(urlsplit(request.path).path)
        if responder is None:
            return Reply(status=404, body=b"not found")
        return responder(request) if callable(responder) else responder

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _pause(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; False when it is."""
        return not self._stopping.wait(seconds)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], app: FeedServer) -> None:
        self.app = app
        super().__init__(address, handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # Keep stderr quiet; keep the error where a test can look at it.
        exc = sys.exc_info()[1]
        if exc is not None:
            self.app.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    timeout = 10  # a client that stops talking frees its thread

    def _serve(self) -> None:
        app = self.server.app
        length = int(self.headers.get("Content-Length") or 0)
        received = ReceivedRequest(
            method=self.command,
            path=self.path,
            headers=_headers(self.headers.items()),
            body=self.rfile.read(length) if length else b"",
        )
        app._begin(received)
        try:
            self._answer(app, app._reply_to(received))
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            pass  # the client gave up (timeout, size cap): what many tests provoke
        finally:
            app._end()

    def _answer(self, app: FeedServer, reply: Reply) -> None:
        if reply.delay and not app._pause(reply.delay):
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.content_length and "content-length" not in {n.lower() for n in reply.headers}:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if not reply.drip:
            self.wfile.write(reply.body)
            return
        for start in range(0, len(reply.body), reply.drip_size):
            if not app._pause(reply.drip):
                return
            self.wfile.write(reply.body[start : start + reply.drip_size])
            self.wfile.flush()

    # http.server dispatches on these names.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:
        pass


def _headers(items: Iterator[tuple[str, str]] | list[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
