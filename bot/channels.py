"""What every delivery channel (chat, SMS, e-mail, a department room) promises the outbox.

A channel sends one message and either returns (the far side accepted it) or raises one
of the errors below, which tell the outbox what to do next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class NotConnected(Exception):
    """The transport cannot send now (the bot is offline); the message stays pending and
    no attempt is counted."""


class TemporaryFailure(Exception):
    """Worth trying again later: a timeout, a refused connection, a provider's server
    error or rate limit, an SMTP 4xx, a refused login the admin can fix."""


class PermanentFailure(Exception):
    """Trying again would fail the same way: a bad number, an HTTP 4xx that is not a rate
    limit, an SMTP 5xx for the recipient or the message."""


@dataclass(frozen=True)
class Envelope:
    """One message as a channel sees it.

    `key` is the outbox row's idempotency key: the same message always carries the same
    key, so a provider that honours one (an Idempotency-Key header, a Message-ID) never
    accepts it twice."""

    key: str
    address: str  # a JID, an E.164 phone number, an e-mail address or a room JID
    text: str
    subject: str = ""  # e-mail only: the first line of the text when empty
    ticket: int | None = None  # the ticket it is about: chat puts it in that ticket's thread


class Channel(Protocol):
    """Sends one message; raises NotConnected, TemporaryFailure or PermanentFailure."""

    async def send(self, envelope: Envelope) -> None: ...
