"""Local stand-ins for Teams Workflows, ntfy and the Telegram Bot API, on 127.0.0.1:0.

Each records every request and answers like its service: success in the service's shape, and
the service's refusal for a payload the service would refuse (Teams: 400 for a body that is not
one Adaptive Card message, 413 past 28 KB; ntfy: 400 for bad JSON or fields, 401/403 for a
missing or wrong token, 413 past 4,096 bytes; Telegram: 401 for a wrong token, 400 for a wrong
chat, text over 4,096 characters or HTML it cannot parse). Scripted replies (rate limits,
outages) apply only to payloads that pass those checks.

The checks are also pure functions (`teams_problem`, `ntfy_problem`, `telegram_problem`) so
unit tests can hold rendered payloads to the same rules.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.receivers import Reply, _Receiver

__all__ = [
    "NtfyReceiver",
    "Reply",
    "TeamsReceiver",
    "TelegramReceiver",
    "ntfy_problem",
    "teams_problem",
    "telegram_problem",
    "telegram_reply",
    "telegram_visible_text",
]

# -- Teams Workflows -------------------------------------------------------------------------
TEAMS_MAX_BYTES = 28 * 1024
ADAPTIVE = "application/vnd.microsoft.card.adaptive"


def teams_problem(payload: Any) -> str | None:
    """Why Teams would refuse this message, or None. Checks what a notifier can get wrong."""
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return "not a message"
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return "not exactly one attachment"
    attachment = attachments[0]
    if not isinstance(attachment, dict) or attachment.get("contentType") != ADAPTIVE:
        return "attachment is not an Adaptive Card"
    card = attachment.get("content")
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return "content is not an AdaptiveCard"
    version = card.get("version")
    if not isinstance(version, str) or tuple(map(int, version.split("."))) < (1, 4):
        return "card version below 1.4"
    body = card.get("body")
    if not isinstance(body, list) or not body:
        return "card has no body"
    for element in _walk(card):
        kind = element.get("type")
        if kind == "TextRun" and not isinstance(element.get("text"), str):
            return "TextRun without text"
        if kind == "RichTextBlock" and not isinstance(element.get("inlines"), list):
            return "RichTextBlock without inlines"
        if kind == "Action.OpenUrl" and not str(element.get("url", "")).startswith("http"):
            return "Action.OpenUrl without an http(s) url"
    return None


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "type" in node:
            found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


def _teams_error(status: int, code: str) -> Reply:
    body = json.dumps({"error": {"code": code, "message": f"The request failed: {code}."}})
    return Reply(status, body, {"content-type": "application/json"})


class TeamsReceiver(_Receiver):
    """A Workflows "when a Teams webhook request is received" trigger; `sig` plays the secret."""

    default_reply = Reply(202, "")

    def __init__(self) -> None:
        self.sig = secrets.token_urlsafe(24)
        super().__init__(
            "/workflows/0a1b2c3d/triggers/manual/paths/invoke"
            f"?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.sig}"
        )

    def check_request(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[Reply | None, bool | None]:
        if parse_qs(urlsplit(path).query).get("sig") != [self.sig]:
            return _teams_error(401, "DirectApiAuthorizationRequired"), None
        if len(body) > TEAMS_MAX_BYTES:
            return _teams_error(413, "MessageSizeTooBig"), None
        try:
            payload = json.loads(body)
        except ValueError:
            return _teams_error(400, "InvalidRequestContent"), None
        if teams_problem(payload) is not None:
            return _teams_error(400, "InvalidRequestContent"), None
        return None, None


# -- ntfy ------------------------------------------------------------------------------------
NTFY_MESSAGE_MAX = 4096


def ntfy_problem(payload: Any, topic: str) -> str | None:
    """Why ntfy would refuse (or mangle) this JSON publish, or None."""
    if not isinstance(payload, dict):
        return "not a JSON object"
    if payload.get("topic") != topic:
        return "wrong topic"
    for key in ("title", "message", "click"):
        if key in payload and not isinstance(payload[key], str):
            return f"{key} is not a string"
    if len(str(payload.get("message", "")).encode()) > NTFY_MESSAGE_MAX:
        return "message over 4096 bytes"
    priority = payload.get("priority", 3)
    if not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 5:
        return "priority not 1 to 5"
    tags = payload.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return "tags is not a list of strings"
    if "click" in payload and not payload["click"].startswith(("http://", "https://")):
        return "click is not a URL"
    return None


def _ntfy_error(status: int, code: int, error: str) -> Reply:
    body = json.dumps({"code": code, "http": status, "error": error})
    return Reply(status, body, {"content-type": "application/json"})


class NtfyReceiver(_Receiver):
    """An ntfy server under `prefix`; `url` is the topic URL a user configures. With a token,
    publishing needs `Authorization: Bearer <token>`."""

    default_reply = Reply(200, "")

    def __init__(self, *, token: str | None = None, prefix: str = "/") -> None:
        self.topic = "alerts_" + secrets.token_hex(6)
        self.token = token
        self.prefix = prefix
        super().__init__(prefix)
        self._count = 0

    @property
    def topic_url(self) -> str:
        return self.url + self.topic

    def check_request(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[Reply | None, bool | None]:
        if path != self.prefix:
            return _ntfy_error(404, 40401, "page not found"), None
        if self.token is not None:
            auth = headers.get("authorization")
            if auth is None:
                return _ntfy_error(403, 40301, "forbidden"), None
            if auth != f"Bearer {self.token}":
                return _ntfy_error(401, 40101, "unauthorized"), None
        try:
            payload = json.loads(body)
        except ValueError:
            return _ntfy_error(400, 40017, "invalid request: request body must be JSON"), None
        problem = ntfy_problem(payload, self.topic)
        if problem == "message over 4096 bytes":
            return _ntfy_error(413, 41301, "message too large"), None
        if problem is not None:
            return _ntfy_error(400, 40000, f"invalid request: {problem}"), None
        return None, None

    def _next_reply(self) -> Reply:
        reply = super()._next_reply()
        if reply.status != 200 or reply.body:
            return reply
        self._count += 1
        answer = {"id": f"m{self._count}", "event": "message", "topic": self.topic}
        return Reply(200, json.dumps(answer), {"content-type": "application/json"})


# -- Telegram Bot API ------------------------------------------------------------------------
TELEGRAM_TEXT_MAX = 4096
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
_TAG = re.compile(r'<(/?)([a-z-]+)((?:\s+[a-z-]+="[^"<>]*")*)\s*>')
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|lt|gt|amp|quot);")


def telegram_visible_text(text: str) -> str:
    """The message as Telegram shows it: tags removed, entities decoded."""
    return html.unescape(_TAG.sub("", text))


def telegram_problem(payload: Any, chat_id: str | int | None = None) -> str | None:
    """Telegram's description for a sendMessage it would refuse, or None."""
    if not isinstance(payload, dict) or "chat_id" not in payload:
        return "Bad Request: chat_id is empty"
    if chat_id is not None and str(payload["chat_id"]) != str(chat_id):
        return "Bad Request: chat not found"
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        return "Bad Request: message text is empty"
    if payload.get("parse_mode") == "HTML":
        problem = _html_problem(text)
        if problem is not None:
            return f"Bad Request: can't parse entities: {problem}"
        text = telegram_visible_text(text)
    if len(text.encode("utf-16-le")) // 2 > TELEGRAM_TEXT_MAX:
        return "Bad Request: message is too long"
    return None


def _html_problem(text: str) -> str | None:
    stack: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "<":
            tag = _TAG.match(text, i)
            if tag is None:
                return f"unsupported start tag at byte offset {i}"
            closing, name, attrs = tag.groups()
            if name not in _TAGS:
                return f'unsupported start tag "{name}" at byte offset {i}'
            if closing:
                if not stack or stack.pop() != name:
                    return f'unmatched end tag at byte offset {i}, expected "</{name}>"'
            else:
                if name == "a" and not re.fullmatch(r'\s+href="[^"]*"', attrs):
                    return f"a tag without href at byte offset {i}"
                for value in re.findall(r'"([^"]*)"', attrs):
                    if _bare_ampersand(value):
                        return f"bad entity in an attribute at byte offset {i}"
                stack.append(name)
            i = tag.end()
        elif c == "&":
            entity = _ENTITY.match(text, i)
            if entity is None:
                return f"unsupported entity at byte offset {i}"
            i = entity.end()
        elif c == ">":
            return f"unexpected > at byte offset {i}"
        else:
            i += 1
    if stack:
        return f'can\'t find end tag corresponding to start tag "{stack[-1]}"'
    return None


def _bare_ampersand(value: str) -> bool:
    return any(_ENTITY.match(value, m.start()) is None for m in re.finditer("&", value))


def telegram_reply(status: int, description: str, **parameters: Any) -> Reply:
    """An error answer in the Bot API's shape, e.g. telegram_reply(429, "...", retry_after=3)."""
    doc: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        doc["parameters"] = parameters
    return Reply(status, json.dumps(doc), {"content-type": "application/json"})


class TelegramReceiver(_Receiver):
    """The Bot API at `url` (the api_url a user configures) for one bot and one chat."""

    default_reply = Reply(200, "")

    def __init__(self, chat_id: str | int = 4242) -> None:
        self.bot_token = f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(26)}"
        self.chat_id = chat_id
        super().__init__("")
        self._count = 0

    def check_request(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[Reply | None, bool | None]:
        if not path.startswith("/bot") or not path.endswith("/sendMessage"):
            return telegram_reply(404, "Not Found"), None
        if path != f"/bot{self.bot_token}/sendMessage":
            return telegram_reply(401, "Unauthorized"), None
        try:
            payload = json.loads(body)
        except ValueError:
            return telegram_reply(400, "Bad Request: invalid JSON"), None
        problem = telegram_problem(payload, self.chat_id)
        if problem is not None:
            return telegram_reply(400, problem), None
        return None, None

    def _next_reply(self) -> Reply:
        reply = super()._next_reply()
        if reply.status != 200 or reply.body:
            return reply
        self._count += 1
        result = {"message_id": self._count, "chat": {"id": self.chat_id}, "date": 0}
        return Reply(200, json.dumps({"ok": True, "result": result}))
