"""A local stand-in for Slack's Web API on 127.0.0.1: `chat.postMessage` and `chat.update`.

It answers the way Slack does: HTTP 200 with `{"ok": true, "channel": <id>, "ts": ...}` or
`{"ok": false, "error": ...}`. It checks the bearer token (`not_authed`, `invalid_auth`),
refuses payloads Slack would refuse (`no_text`, `invalid_blocks`, `thread_not_found`,
`message_not_found`), turns a channel name into an id the way Slack's answer does, and keeps
every message so tests can read what a channel would show. Tell it to fail the next calls:

    with SlackApi() as slack:
        slack.fail_next("ratelimited", "http_429", "server_error", "channel_not_found")
        ...  # api_url: slack.url, token: slack.token
        [post] = slack.calls_to("chat.postMessage")

A stdlib server on a thread, so it serves async tests and subprocesses alike.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

# What each scripted failure answers: HTTP status, error word, headers.
FAILURES: dict[str, tuple[int, str | None, dict[str, str]]] = {
    "ratelimited": (429, "ratelimited", {"retry-after": "1"}),
    "http_429": (429, None, {"retry-after": "1"}),
    "server_error": (503, None, {}),
    "internal_error": (200, "internal_error", {}),
    "channel_not_found": (200, "channel_not_found", {}),
    "not_in_channel": (200, "not_in_channel", {}),
    "is_archived": (200, "is_archived", {}),
    "invalid_auth": (200, "invalid_auth", {}),
    "token_revoked": (200, "token_revoked", {}),
    "msg_too_long": (200, "msg_too_long", {}),
    "edit_window_closed": (200, "edit_window_closed", {}),
}


@dataclass(frozen=True)
class Call:
    """One Web API call as the receiver saw it, and what it answered."""

    method: str  # "chat.postMessage"
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int
    answer: dict[str, Any]

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class Message:
    """A message as the channel shows it: its latest text and blocks, and its thread."""

    channel: str
    ts: str
    text: str
    blocks: list[Any]
    thread_ts: str | None = None
    edits: int = 0
    replies: list[str] = field(default_factory=list)


class SlackApi:
    def __init__(self) -> None:
        self.token = "xoxb-" + secrets.token_hex(12)
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], Message] = {}
        self._failures: deque[str] = deque()
        self._lock = threading.Condition()
        self._clock = 1700000000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server = server
        host, port = server.server_address[:2]
        self._url = f"http://{host!s}:{port}/api"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- test API --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The Web API root, what `api_url` is set to."""
        if self._url is None:
            raise RuntimeError("SlackApi was never started")
        return self._url

    def fail_next(self, *failures: str) -> None:
        """Answer the next calls with these failures (keys of FAILURES), in order."""
        unknown = [f for f in failures if f not in FAILURES]
        if unknown:
            raise ValueError(f"unknown failures {unknown}")
        with self._lock:
            self._failures.extend(failures)

    def calls_to(self, method: str) -> list[Call]:
        """Calls of one method that Slack accepted (ok true), in arrival order."""
        return [c for c in self.calls if c.method == method and c.answer.get("ok")]

    def top_level(self) -> list[Message]:
        """Messages posted to a channel (not thread replies), oldest first."""
        return [m for m in self.messages.values() if m.thread_ts is None]

    @staticmethod
    def channel_id(channel: str) -> str:
        """The id Slack answers with for a channel name (`#markets`) or an id (`C…`)."""
        if channel.startswith(("C", "G", "D")) and channel.isalnum():
            return channel
        return "C" + hashlib.sha256(channel.lstrip("#").encode()).hexdigest()[:10].upper()

    # -- the API ---------------------------------------------------------------------------
    def answer(
        self, method: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return 200, _error("not_authed"), {}
        if auth != f"Bearer {self.token}":
            return 200, _error("invalid_auth"), {}
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            status, word, extra = FAILURES[failure]
            return status, (_error(word) if word else {}), extra
        try:
            payload = json.loads(body)
        except ValueError:
            return 200, _error("invalid_json"), {}
        if not isinstance(payload, dict):
            return 200, _error("invalid_json"), {}
        if method == "chat.postMessage":
            return 200, self._post(payload), {}
        if method == "chat.update":
            return 200, self._update(payload), {}
        return 404, _error("unknown_method"), {}

    def _post(self, p: dict[str, Any]) -> dict[str, Any]:
        checked = _check_message(p)
        if checked is not None:
            return checked
        channel = self.channel_id(str(p["channel"]))
        thread = p.get("thread_ts")
        with self._lock:
            if thread is not None and (channel, thread) not in self.messages:
                return _error("thread_not_found")
            self._clock += 1
            ts = f"{self._clock}.{len(self.messages):06d}"
            self.messages[(channel, ts)] = Message(
                channel, ts, str(p.get("text", "")), list(p.get("blocks", [])), thread
            )
            if thread is not None:
                self.messages[(channel, thread)].replies.append(ts)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": p.get("text", "")}}

    def _update(self, p: dict[str, Any]) -> dict[str, Any]:
        checked = _check_message(p)
        if checked is not None:
            return checked
        key = (str(p["channel"]), str(p.get("ts")))
        with self._lock:
            message = self.messages.get(key)
            if message is None:
                # chat.update takes the channel id Slack returned, not the name.
                return _error("message_not_found")
            message.text = str(p.get("text", ""))
            message.blocks = list(p.get("blocks", []))
            message.edits += 1
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message.text}

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)
            self._lock.notify_all()


def _error(word: str) -> dict[str, Any]:
    return {"ok": False, "error": word}


def _check_message(p: dict[str, Any]) -> dict[str, Any] | None:
    if not isinstance(p.get("channel"), str) or not p["channel"]:
        return _error("channel_not_found")
    if not p.get("text") and not p.get("blocks"):
        return _error("no_text")
    if "blocks" in p and not _blocks_fit(p["blocks"]):
        return _error("invalid_blocks")
    if len(str(p.get("text", ""))) > 40000:
        return _error("msg_too_long")
    return None


def _blocks_fit(blocks: Any) -> bool:
    """Block Kit's shape and limits, as far as a notifier can break them."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    for block in blocks:
        if not isinstance(block, dict):
            return False
        kind = block.get("type")
        if kind == "header":
            text = block.get("text")
            if not isinstance(text, dict) or text.get("type") != "plain_text":
                return False
            if not 1 <= len(text.get("text", "")) <= 150:
                return False
        elif kind == "section":
            text = block.get("text")
            if not isinstance(text, dict) or not 1 <= len(text.get("text", "")) <= 3000:
                return False
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                return False
            for e in elements:
                if not isinstance(e, dict) or not 1 <= len(e.get("text", "")) <= 3000:
                    return False
        else:
            return False
    return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up leaves a broken pipe behind


def _handler_for(api: SlackApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            body = self.rfile.read(int(headers.get("content-length", "0") or 0))
            method = self.path.rsplit("/", 1)[-1]
            status, answer, extra = api.answer(method, headers, body)
            api._record(Call(method, headers, body, status, answer))
            payload = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-type", "application/json; charset=utf-8")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
