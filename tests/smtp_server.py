"""A real SMTP server on loopback for the e-mail channel's tests (aiosmtpd in a thread):
`with SmtpServer(starttls=cert, user=("bot", "pw")) as server: ... server.received`."""

from __future__ import annotations

import email.policy
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from bot.servers import free_port, self_signed_certificate

HOST = "127.0.0.1"
Stage = Literal["RCPT", "DATA"]


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key."""

    certificate: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificate, self.key)
        return context


def make_certificate(folder: Path) -> Certificate:
    """Make the certificate with the openssl command line, once per folder."""
    made = Certificate(folder / "smtp.crt", folder / "smtp.key")
    self_signed_certificate(made.certificate, made.key, "localhost", "DNS:localhost,IP:127.0.0.1")
    return made


@dataclass(frozen=True)
class ReceivedMail:
    """One message the server accepted."""

    mail_from: str
    recipients: list[str]
    message: EmailMessage


class SmtpServer:
    """An SMTP server on 127.0.0.1 and a free port.

    `starttls` offers (and requires) STARTTLS with that certificate; `implicit_tls` speaks
    TLS from the first byte instead. `user=(name, password)` offers AUTH PLAIN and LOGIN,
    after STARTTLS when there is TLS, and requires it before MAIL. `fail_next(451, "RCPT")`
    makes the next transactions fail with that reply."""

    def __init__(
        self,
        *,
        starttls: Certificate | None = None,
        implicit_tls: Certificate | None = None,
        user: tuple[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.user = user
        self._lock = threading.Lock()
        self._received: list[ReceivedMail] = []
        self._failures: list[tuple[Stage, str]] = []
        options: dict[str, Any] = {}
        if starttls is not None:
            options.update(tls_context=starttls.server_context(), require_starttls=True)
        if user is not None:
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                # aiosmtpd counts only STARTTLS as TLS; implicit TLS must allow AUTH
                # "without" it (and warns that it does)
                auth_require_tls=starttls is not None,
            )
        self._controller = Controller(
            _Handler(self),
            hostname=HOST,
            port=self.port,
            ssl_context=implicit_tls.server_context() if implicit_tls else None,
            **options,
        )

    @property
    def address(self) -> str:
        """`host:port`, as EmailConfig.smtp spells it."""
        return f"{HOST}:{self.port}"

    @property
    def received(self) -> list[ReceivedMail]:
        """The messages accepted so far, oldest first (a copy)."""
        with self._lock:
            return list(self._received)

    def fail_next(self, code: int, stage: Stage = "RCPT", times: int = 1) -> None:
        """Refuse the next `times` transactions (of one recipient each) with `code` at
        RCPT TO or at DATA."""
        reply = f"{code} {'4.0.0 try again later' if code < 500 else '5.0.0 refused'}"
        with self._lock:
            self._failures.extend([(stage, reply)] * times)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _failure(self, stage: Stage) -> str | None:
        """The reply to give at `stage` when the transaction is to fail, else None."""
        with self._lock:
            if self._failures and self._failures[0][0] == stage:
                return self._failures.pop(0)[1]
            return None

    def _record(self, envelope: SmtpEnvelope) -> None:
        content = envelope.content
        assert isinstance(content, bytes)
        message = BytesParser(policy=email.policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        mail = ReceivedMail(envelope.mail_from or "", list(envelope.rcpt_tos), message)
        with self._lock:
            self._received.append(mail)

    def _authenticate(
        self, server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.user is None:
            return AuthResult(success=False, handled=False)
        name, password = self.user
        valid = auth_data.login.decode() == name and auth_data.password.decode() == password
        return AuthResult(success=valid, handled=False)


class _Handler:
    """aiosmtpd's hooks (called on the server's thread)."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self,
        smtp: SMTP,
        session: Any,
        envelope: SmtpEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.server._failure("RCPT")
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Any, envelope: SmtpEnvelope) -> str:
        reply = self.server._failure("DATA")
        if reply is not None:
            return reply
        self.server._record(envelope)
        return "250 Message accepted for delivery"
