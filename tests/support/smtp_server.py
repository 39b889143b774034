"""A real SMTP server on 127.0.0.1 (aiosmtpd, in its own thread) that collects what it is sent.

It can require a login (AUTH PLAIN/LOGIN against a dict of users, only after TLS, as real
submission servers do), offer STARTTLS or speak implicit TLS with a certificate made at test
time, and answer the next messages with scripted replies (451, 550, ...) at RCPT or DATA.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

# aiosmtpd logs each session at INFO and warns about its own deprecated login_data on every
# AUTH; neither is about the code under test.
logging.getLogger("mail.log").setLevel(logging.ERROR)

CERT_HOST = "localhost"  # the certificate also names 127.0.0.1, so either can be dialled


@dataclass
class Received:
    """One message as the server got it: envelope, raw RFC 5322 bytes, and how it came."""

    sender: str
    recipients: list[str]
    raw: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return cast(EmailMessage, message_from_bytes(self.raw, policy=policy.default))


@dataclass
class _State:
    users: dict[str, str]
    received: list[Received] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    rcpt_replies: list[str] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)  # (user, accepted)


class _Handler:
    def __init__(self, state: _State) -> None:
        self._state = state

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self._state.rcpt_replies:
            return self._state.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self._state.data_replies:
            return self._state.data_replies.pop(0)
        content = envelope.original_content or b""
        login = session.auth_data.login.decode() if session.authenticated else None
        self._state.received.append(
            Received(
                sender=str(envelope.mail_from),
                recipients=list(envelope.rcpt_tos),
                raw=content,
                # session.ssl is set by STARTTLS; an implicit-TLS transport says so itself.
                tls=bool(session.ssl)
                or (
                    server.transport is not None
                    and bool(server.transport.get_extra_info("ssl_object"))
                ),
                login=login,
            )
        )
        return "250 Message accepted for delivery"


class _Authenticator:
    def __init__(self, state: _State) -> None:
        self._state = state

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        ok = self._state.users.get(user) == password
        self._state.logins.append((user, ok))
        return AuthResult(success=ok, handled=False, auth_data=data)


class _Controller(Controller):
    """aiosmtpd's controller, bound to port 0: the port is read back once it listens."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """`with SmtpServer() as smtp:` then send to `smtp.host`:`smtp.port`; read `smtp.received`.

    users: logins it accepts (AUTH is then offered, after TLS only). starttls / implicit_tls:
    a server SSLContext (see `server_tls`). `script_data` / `script_rcpt` queue replies for the
    next DATA / RCPT commands ("451 4.3.0 Try again later"); after them it accepts.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        self._state = _State(users=dict(users or {}))
        kwargs: dict[str, Any] = {
            "hostname": self.host,
            "port": 0,
            "server_hostname": "smtp.test",  # else aiosmtpd asks getfqdn(), slow without DNS
            "ready_timeout": 10.0,
        }
        if users:
            kwargs["authenticator"] = _Authenticator(self._state)
        if starttls is not None:
            kwargs["tls_context"] = starttls
        if implicit_tls is not None:
            kwargs["ssl_context"] = implicit_tls
        self._controller = _Controller(_Handler(self._state), **kwargs)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def received(self) -> list[Received]:
        return self._state.received

    @property
    def logins(self) -> list[tuple[str, bool]]:
        return self._state.logins

    def wait(self, count: int, *, within: float) -> list[Received]:
        """Block until `count` messages have arrived (or fail the test after `within` seconds)."""
        deadline = time.monotonic() + within
        while len(self._state.received) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"{len(self._state.received)} of {count} messages within {within}s")
            time.sleep(0.05)
        return list(self._state.received)

    def script_data(self, replies: Iterable[str]) -> None:
        self._state.data_replies.extend(replies)

    def script_rcpt(self, replies: Iterable[str]) -> None:
        self._state.rcpt_replies.extend(replies)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._controller.stop()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for localhost and 127.0.0.1, made now with openssl(1)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl(1) is needed to make the test certificate", pytrace=False)
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={CERT_HOST}",
         "-addext", f"subjectAltName=DNS:{CERT_HOST},IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
