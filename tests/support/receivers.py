"""Real HTTP receivers on 127.0.0.1:0 for destination and end-to-end tests.

Two receivers, both recording every request they get and answering from a script:
- `SlackReceiver`: a Slack-like incoming webhook. Answers 200 `ok` unless scripted; by default
  it also rejects payloads that break Block Kit limits the way Slack does (400 invalid_blocks).
- `WebhookReceiver`: verifies Standard Webhooks signatures with the independent
  `standardwebhooks` package; a bad or missing signature gets 401 and is recorded as such.

Use either as a context manager (sync or async) or with start()/stop():

    async with SlackReceiver() as slack:
        slack.script([slack_rate_limited(2), SLACK_OK])
        ...  # post to slack.url
        [first, second] = await slack.wait_for(2)

They run a stdlib HTTP server on a thread, so they serve sync and async clients and
subprocesses alike.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Reply:
    """One scripted answer. `delay` holds the answer back (to provoke client timeouts)."""

    status: int = 200
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


# Slack's answers, as documented for incoming webhooks.
SLACK_OK = Reply(200, "ok")
SLACK_CHANNEL_ARCHIVED = Reply(410, "channel_is_archived")
SLACK_CHANNEL_NOT_FOUND = Reply(404, "channel_not_found")
SLACK_ACTION_PROHIBITED = Reply(403, "action_prohibited")
SLACK_INVALID_BLOCKS = Reply(400, "invalid_blocks")
SLACK_INVALID_PAYLOAD = Reply(400, "invalid_payload")
SLACK_SERVER_ERROR_HTML = Reply(
    500,
    "<!DOCTYPE html><html><head><title>Server Error</title></head>"
    "<body><h1>Something went wrong</h1><p>Please try again later.</p></body></html>",
    {"content-type": "text/html; charset=utf-8"},
)


def slack_rate_limited(retry_after: float = 1) -> Reply:
    """429 with Retry-After in seconds, as Slack sends when a webhook posts too fast."""
    return Reply(429, "rate_limited", {"retry-after": f"{retry_after:g}"})


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic() when the request was complete
    status: int  # the status the receiver answered with
    verified: bool | None = None  # webhook signature check; None when not checked

    def json(self) -> Any:
        return json.loads(self.body)


class _Receiver:
    """The shared part: server thread, script queue, request log."""

    default_reply = Reply(200, "")

    def __init__(self, path: str = "/") -> None:
        self.path = path
        self.received: list[Received] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server = server
        host, port = server.server_address[:2]
        self._url = f"http://{host!s}:{port}{self.path}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts scripted delays short
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- test API --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Where to send; still answers after stop(), so tests can aim at a closed port."""
        if self._url is None:
            raise RuntimeError("receiver was never started")
        return self._url

    def script(self, replies: Iterable[Reply]) -> None:
        """Queue answers for the next requests, in order; afterwards `default_reply` applies."""
        with self._lock:
            self._script.extend(replies)

    async def wait_for(self, count: int, within: float = 5.0) -> list[Received]:
        """Wait until at least `count` requests arrived; return them all."""
        return await asyncio.to_thread(self.wait, count, within)

    def wait(self, count: int, within: float = 5.0) -> list[Received]:
        """Blocking form of wait_for, for sync tests."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.received) >= count, within):
                raise AssertionError(
                    f"expected {count} request(s) within {within}s, got {len(self.received)}"
                )
            return list(self.received)

    # -- for subclasses --------------------------------------------------------------------
    def check(self, headers: dict[str, str], body: bytes) -> tuple[Reply | None, bool | None]:
        """A reply that overrides the script (a rejected request), and the verification result."""
        return None, None

    def check_request(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[Reply | None, bool | None]:
        """Like `check`, for receivers that also judge the request path (a token in it)."""
        return self.check(headers, body)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else self.default_reply

    def _record(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)
            self._lock.notify_all()


class SlackReceiver(_Receiver):
    """A Slack-like incoming webhook at /services/T…/B…/<token>; `token` plays the secret."""

    default_reply = SLACK_OK

    def __init__(self, *, validate: bool = True) -> None:
        self.token = secrets.token_urlsafe(18)
        super().__init__(f"/services/T0NEWSALRT/B0NEWSALRT/{self.token}")
        self.validate = validate

    def check(self, headers: dict[str, str], body: bytes) -> tuple[Reply | None, bool | None]:
        if not self.validate:
            return None, None
        try:
            payload = json.loads(body)
        except ValueError:
            return SLACK_INVALID_PAYLOAD, None
        if not isinstance(payload, dict):
            return SLACK_INVALID_PAYLOAD, None
        if not payload.get("text") and not payload.get("blocks"):
            return Reply(400, "no_text"), None
        if "blocks" in payload and not _blocks_fit(payload["blocks"]):
            return SLACK_INVALID_BLOCKS, None
        return None, None


class WebhookReceiver(_Receiver):
    """A generic webhook endpoint. With a secret, every request's signature is verified by
    `standardwebhooks`; failures answer 401 `invalid_signature` without using the script."""

    default_reply = Reply(204, "")

    def __init__(self, secret: str | None = None) -> None:
        super().__init__("/hooks/newsalert")
        self.secret = secret
        self._verifier = Webhook(secret) if secret is not None else None

    @property
    def ids(self) -> list[str]:
        """webhook-id of every request answered with 2xx, in arrival order."""
        return [r.headers.get("webhook-id", "") for r in self.received if 200 <= r.status < 300]

    def check(self, headers: dict[str, str], body: bytes) -> tuple[Reply | None, bool | None]:
        if self._verifier is None:
            return None, None
        try:
            self._verifier.verify(body, headers)
        except WebhookVerificationError:
            return Reply(401, "invalid_signature"), False
        return None, True


# -- plumbing ------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout test) leaves a broken pipe behind; that is expected.
        pass


def _handler_for(receiver: _Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects from real servers

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def _serve(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            body = self._read_body(headers)
            if len(body) < int(headers.get("content-length", "0") or 0):
                # The sender died mid-request (a kill -9 in a crash test): like any real
                # server, drop the half-received request instead of judging its signature.
                return
            override, verified = receiver.check_request(self.path, headers, body)
            reply = override if override is not None else receiver._next_reply()
            receiver._record(
                Received(
                    method=self.command,
                    path=self.path,
                    headers=headers,
                    body=body,
                    at=time.monotonic(),
                    status=reply.status,
                    verified=verified,
                )
            )
            if reply.delay and receiver._stopping.wait(reply.delay):
                return
            payload = reply.body.encode()
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if not any(name.lower() == "content-type" for name in reply.headers):
                self.send_header("content-type", "text/plain; charset=utf-8")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _read_body(self, headers: dict[str, str]) -> bytes:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline().strip():
                    pass  # trailers
                return b"".join(chunks)
            return self.rfile.read(int(headers.get("content-length", "0")))

    return Handler


def _blocks_fit(blocks: Any) -> bool:
    """Slack's Block Kit limits, as far as a notifier can break them."""
    try:
        return _check_blocks(blocks)
    except (AttributeError, TypeError):
        return False  # a block or text object of the wrong shape


def _check_blocks(blocks: Any) -> bool:
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    for block in blocks:
        if not isinstance(block, dict):
            return False
        kind = block.get("type")
        if kind == "header":
            text = block.get("text", {})
            if text.get("type") != "plain_text" or not 1 <= len(text.get("text", "")) <= 150:
                return False
        elif kind == "section":
            text = block.get("text")
            if text is not None and not 1 <= len(text.get("text", "")) <= 3000:
                return False
        elif kind == "context":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= 10:
                return False
            if any(not 1 <= len(e.get("text", "")) <= 3000 for e in elements if "text" in e):
                return False
    return True
