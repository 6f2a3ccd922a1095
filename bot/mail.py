"""The e-mail channel: sends one notification through the configured SMTP server.

Each send opens its own connection and closes it afterwards. Notifications by e-mail are
few (most go by chat), so a pooled connection would save little and would bring its own
failure modes (idle disconnects, a half-broken session after an error).

A failure is raised as TemporaryFailure when trying again may succeed, by itself or after
an administrator fixes the configuration (the server down or slow, a 4xx reply, a refused
login, an untrusted certificate, STARTTLS missing), and as PermanentFailure when this
message would be refused the same way each time (a 5xx reply to the recipient or to the
data). Failure texts are short, fit the outbox's `last_error`, and never hold the password.
"""

from __future__ import annotations

import email.policy
import email.utils
import re
from email.message import EmailMessage
from hashlib import sha256

import aiosmtplib

from bot.channels import Envelope, PermanentFailure, TemporaryFailure
from bot.config import EmailConfig

_SUBJECT_LIMIT = 100
_REPLY_LIMIT = 160  # of the server's reply text quoted in a failure
# 7-bit bodies (quoted-printable or base64, whichever is shorter) pass any relay unchanged,
# whether or not it speaks 8BITMIME.
_POLICY = email.policy.default.clone(cte_type="7bit")
# runs of what a Message-ID may not hold (and of dots, which may not repeat) become one dot
_NOT_ATOM = re.compile(r"[^A-Za-z0-9_-]+")


class MailChannel:
    """Sends an Envelope as a plain-text e-mail to `envelope.address`.

    Idempotent for the outbox: a message sent again carries the same Message-ID, which
    mail clients use to drop the double, so an interrupted send is repeated."""

    idempotent = True

    def __init__(self, config: EmailConfig) -> None:
        self.config = config

    async def send(self, envelope: Envelope) -> None:
        """Send one message; raises TemporaryFailure or PermanentFailure."""
        try:
            message = compose(envelope, self.config.from_)
        except ValueError as error:  # a line break in the address
            raise PermanentFailure(f"cannot write this e-mail: {error}") from None
        await self._deliver(message, envelope.address)

    async def _deliver(self, message: EmailMessage, address: str) -> None:
        config = self.config
        host, port = config.host_port()
        password = config.password.reveal() if config.password else None
        try:
            await aiosmtplib.send(
                message,
                sender=config.from_,
                recipients=[address],
                hostname=host,
                port=port,
                use_tls=config.tls,
                # True makes STARTTLS required; False never tries it
                start_tls=config.starttls and not config.tls,
                validate_certs=config.verify_tls,
                username=config.username,
                password=password if config.username else None,
                timeout=config.timeout.total_seconds(),
            )
        except aiosmtplib.SMTPException as error:
            raise _redacted(classify(error, config.username), password) from error
        except OSError as error:  # a TLS handshake that failed (an untrusted certificate)
            failure = TemporaryFailure(_short(f"SMTP {host}:{port}: {error}"))
            raise _redacted(failure, password) from error


def compose(envelope: Envelope, sender: str) -> EmailMessage:
    """The e-mail for an envelope; the same envelope always gets the same Message-ID."""
    message = EmailMessage(policy=_POLICY)
    message["From"] = sender
    message["To"] = envelope.address
    message["Subject"] = subject_of(envelope)
    message["Date"] = email.utils.formatdate(localtime=True)
    message["Message-ID"] = message_id(envelope.key, sender)
    # RFC 3834: no vacation replies; the second header is what Exchange honours
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(envelope.text)
    return message


def subject_of(envelope: Envelope) -> str:
    """The envelope's subject, else the text's first line; one line, at most 100 characters."""
    text = envelope.subject or next(iter(envelope.text.strip().splitlines()), "")
    line = " ".join(text.split())
    if len(line) <= _SUBJECT_LIMIT:
        return line
    return line[: _SUBJECT_LIMIT - 1].rstrip() + "…"


def message_id(key: str, sender: str) -> str:
    """`<helpdesk.KEY@DOMAIN>`: one id per outbox key, so a resent message is the same one
    to mail clients. A key with characters a Message-ID cannot carry gets a hash suffix,
    so two keys that differ only in those never share an id."""
    domain = sender.rpartition("@")[2]
    safe = _NOT_ATOM.sub(".", key).strip(".")
    if safe != key:
        digest = sha256(key.encode()).hexdigest()[:12]
        safe = f"{safe[:48].rstrip('.')}.{digest}".lstrip(".")
    return f"<helpdesk.{safe}@{domain}>"


def classify(
    error: aiosmtplib.SMTPException, username: str | None
) -> TemporaryFailure | PermanentFailure:
    """The channel failure for an aiosmtplib error (see the module docstring)."""
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        # the server's text is not quoted: some echo what they were sent
        return TemporaryFailure(f"SMTP login as {username} refused ({error.code})")
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        refusal = error.recipients[0]
        return _by_code(refusal.code, f"recipient refused: {refusal.code} {refusal.message}")
    if isinstance(error, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return _by_code(error.code, f"message refused: {error.code} {error.message}")
    if isinstance(error, aiosmtplib.SMTPSenderRefused):
        # the configured From is the administrator's to fix, like the password
        return TemporaryFailure(_short(f"sender refused: {error.code} {error.message}"))
    if isinstance(error, aiosmtplib.SMTPNotSupported):  # a non-ASCII address, no SMTPUTF8
        return PermanentFailure(_short(f"SMTP: {error.message}"))
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return TemporaryFailure(_short(f"SMTP server: {error.code} {error.message}"))
    # connection refused, timeouts, disconnects, no STARTTLS or AUTH offered
    text = error.message if "SMTP" in error.message else f"SMTP: {error.message}"
    return TemporaryFailure(_short(text))


def _by_code(code: int, text: str) -> TemporaryFailure | PermanentFailure:
    if 500 <= code < 600:
        return PermanentFailure(_short(text))
    return TemporaryFailure(_short(text))


def _redacted(
    failure: TemporaryFailure | PermanentFailure, password: str | None
) -> TemporaryFailure | PermanentFailure:
    """Defence in depth: a server that echoes the password must not put it in the log."""
    text = str(failure)
    if not password or password not in text:
        return failure
    return type(failure)(text.replace(password, "***"))


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _REPLY_LIMIT else line[: _REPLY_LIMIT - 1] + "…"
