"""Email over SMTP: one message per alert to every `to` address, sent with aiosmtplib.

Address guard: the SMTP host is resolved here through `netguard.checked_addresses`, which
refuses non-public answers unless allow_private, and the TCP socket is opened by us to one of
exactly those addresses, then handed to aiosmtplib (`sock=`). aiosmtplib never resolves the
name itself, so a DNS answer that changes between the check and the connect (rebinding) gains
nothing, as with `netguard.PinnedBackend` for HTTP. The configured host name is still what
TLS checks the certificate against and sends as SNI (implicit TLS and STARTTLS alike).

Failures: no connection, timeouts, a dropped connection and 4xx replies (421, 450, 451, 452,
454) are retriable; 5xx replies (550, 553, 554), a refused login (535), a certificate that does
not verify and a server without STARTTLS are permanent. Error sentences carry the destination
name and the SMTP code only, never the password, the server's free text or an address.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Literal

import aiosmtplib
import structlog

from consumers.destinations.email_render import (
    Envelope,
    render_email,
    render_email_digest,
    render_email_health,
)
from consumers.errors import DeliveryError
from service import netguard
from service.errors import BlockedAddressError, FetchError
from service.models import Alert, Digest, FeedHealthAlert

log = structlog.get_logger(__name__)

TlsMode = Literal["starttls", "tls", "none"]


class EmailDestination:
    """Sends alerts as email through one SMTP server. The password is never shown."""

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        tls: TlsMode,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        timeout: float,
        allow_private: bool,
        ca_bundle: str | None = None,
        resolver: netguard.Resolver | None = None,
    ) -> None:
        self.name = name
        # Mail relays throttle bursts per sender (and providers' spam scoring notices them);
        # one message a second keeps a flood of alerts well inside typical relay limits.
        self.min_interval = 1.0
        self._host = host.strip("[]")  # an IPv6 literal may be written [2001:db8::25]
        self._port = port
        self._tls: TlsMode = tls
        self._envelope = Envelope(sender, tuple(recipients))
        self._username = username
        self._password = password
        self._timeout = timeout
        self._allow_private = allow_private
        # Built once: loading the system CA store costs more than the rest of a send.
        self._tls_context = _tls_context(ca_bundle) if tls != "none" else None
        self._resolver = resolver
        self._what = f"email destination {name!r}"

    def __repr__(self) -> str:
        return f"EmailDestination(name={self.name!r}, tls={self._tls!r})"

    async def send(self, alert: Alert) -> None:
        await self._deliver(render_email(alert, self._envelope))

    async def send_digest(self, digest: Digest) -> None:
        await self._deliver(render_email_digest(digest, self._envelope))

    async def send_feed_health(self, alert: FeedHealthAlert) -> None:
        await self._deliver(render_email_health(alert, self._envelope))

    async def _deliver(self, message: EmailMessage) -> None:
        """Check the address, connect, (STARTTLS,) log in, send to every recipient, quit.

        One deadline, `timeout`, covers the whole session, connect included.
        """
        try:
            async with asyncio.timeout(self._timeout):
                refused = await self._session(message)
        except TimeoutError:
            raise DeliveryError(
                f"{self._what}: the SMTP server did not finish within {self._timeout:g}s",
                retriable=True,
            ) from None
        if refused:
            # The others have it; sending again would give them a second copy.
            log.warning(
                "email_recipients_refused",
                destination=self.name,
                refused=len(refused),
                delivered=len(self._envelope.recipients) - len(refused),
                codes=sorted(set(refused)),
            )

    async def _session(self, message: EmailMessage) -> list[int]:
        """One SMTP session; returns the codes of recipients refused while others took it."""
        sock = await self._connect()
        smtp = aiosmtplib.SMTP(
            hostname=self._host,  # for TLS (certificate name, SNI) only: we connected already
            sock=sock,
            use_tls=self._tls == "tls",
            start_tls=False,  # done below, so a failure leaves the transport for us to abort
            tls_context=self._tls_context,
            timeout=self._timeout,
            # An address literal (RFC 5321 4.1.3) instead of aiosmtplib's getfqdn(), which
            # does reverse DNS and can take seconds.
            local_hostname=_address_literal(sock),
        )
        last: asyncio.BaseTransport | None = None
        try:
            await smtp.connect()
            if self._tls == "starttls":
                await smtp.starttls()
            if self._username is not None and self._password is not None:
                await smtp.login(self._username, self._password)
            refused, _ = await smtp.send_message(
                message, sender=self._envelope.sender, recipients=list(self._envelope.recipients)
            )
            last = smtp.transport
            with contextlib.suppress(aiosmtplib.SMTPException):
                await smtp.quit()
            return [r.code for r in refused.values()]
        except aiosmtplib.SMTPException as exc:
            raise classify_smtp_error(exc, self._what) from None
        except OSError as exc:
            raise _os_error(exc, self._what) from None
        finally:
            # Aborted, not closed: after QUIT or a failure nothing more is said, and a graceful
            # TLS close would leave the socket open until the server answers it.
            for transport in (smtp.transport, last):
                if isinstance(transport, asyncio.Transport):
                    transport.abort()
            smtp.close()
            sock.close()

    async def _connect(self) -> socket.socket:
        try:
            addresses = await netguard.checked_addresses(
                self._host, self._port, allow_private=self._allow_private, resolver=self._resolver
            )
        except BlockedAddressError:
            raise DeliveryError(
                f"{self._what} points at a non-public address and allow_private is off",
                retriable=False,
            ) from None
        except FetchError:
            raise DeliveryError(
                f"{self._what}: the SMTP host could not be resolved", retriable=True
            ) from None
        loop = asyncio.get_running_loop()
        for ip in addresses:  # in the resolver's order, as PinnedBackend does
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, (str(ip), self._port))
            except OSError:
                sock.close()
                continue
            except BaseException:  # the deadline (cancellation): no socket left open
                sock.close()
                raise
            return sock
        raise DeliveryError(
            f"{self._what}: could not connect to the SMTP server (port {self._port})",
            retriable=True,
        )


def classify_smtp_error(exc: aiosmtplib.SMTPException, what: str) -> DeliveryError:
    """One sentence per kind of SMTP failure. RFC 5321: 4xx is "not now" (retried), 5xx is
    "never" (dead-lettered); trouble with the connection itself is retried."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = sorted({r.code for r in exc.recipients})
        retriable = any(400 <= c < 500 for c in codes)
        shown = ", ".join(str(c) for c in codes)
        return DeliveryError(
            f"{what}: the SMTP server refused every recipient (SMTP {shown})", retriable=retriable
        )
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return DeliveryError(
            f"{what}: the SMTP server refused the login (SMTP {exc.code}); check username and password",
            retriable=400 <= exc.code < 500,
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        step = {
            aiosmtplib.SMTPSenderRefused: "the sender",
            aiosmtplib.SMTPDataError: "the message",
            aiosmtplib.SMTPHeloError: "the greeting",
            aiosmtplib.SMTPConnectResponseError: "the connection",
        }.get(type(exc), "a command")
        retriable = 400 <= exc.code < 500 or exc.code < 200  # < 200: aiosmtplib's "no reply"
        return DeliveryError(
            f"{what}: the SMTP server refused {step} (SMTP {exc.code})", retriable=retriable
        )
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return DeliveryError(f"{what}: the SMTP server stopped answering", retriable=True)
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected):
        cause = _ssl_cause(exc)
        if cause is not None:
            return _tls_error(cause, what)
        return DeliveryError(f"{what}: the SMTP server closed the connection", retriable=True)
    if isinstance(exc, aiosmtplib.SMTPNotSupported) or "not supported" in str(exc):
        return DeliveryError(
            f"{what}: the SMTP server does not offer what the config asks for"
            " (STARTTLS or AUTH); check tls and port",
            retriable=False,
        )
    return DeliveryError(f"{what}: SMTP failed ({type(exc).__name__})", retriable=True)


def _tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Certificates are always checked: default CAs plus network.ca_bundle, if set."""
    context = ssl.create_default_context()
    if ca_bundle is not None:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def _os_error(exc: OSError, what: str) -> DeliveryError:
    cause = exc if isinstance(exc, ssl.SSLError) else _ssl_cause(exc)
    if cause is not None:
        return _tls_error(cause, what)
    return DeliveryError(
        f"{what}: the SMTP connection failed ({type(exc).__name__})", retriable=True
    )


def _tls_error(exc: ssl.SSLError, what: str) -> DeliveryError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryError(
            f"{what}: the SMTP server's certificate did not verify"
            " (trust a private CA with network.ca_bundle)",
            retriable=False,
        )
    return DeliveryError(
        f"{what}: the TLS handshake failed ({type(exc).__name__}); check tls and port",
        retriable=False,
    )


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    for _ in range(5):
        seen = seen.__cause__ or seen.__context__ if seen is not None else None
        if isinstance(seen, ssl.SSLError):
            return seen
    return None


def _address_literal(sock: socket.socket) -> str:
    """`[192.0.2.1]` or `[IPv6:2001:db8::1]`: our end of the connection, for EHLO."""
    address = str(sock.getsockname()[0]).split("%", 1)[0]
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"
