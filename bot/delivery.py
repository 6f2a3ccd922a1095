"""Delivers the chat outbox through whatever transport sends messages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from storage import outbox
from storage.clock import utcnow
from storage.db import Sessions
from storage.models import Outbox

log = logging.getLogger(__name__)

Send = Callable[[str, str], Awaitable[None]]


class NotConnected(Exception):
    """The transport cannot send now; the message stays pending."""


class OutboxDelivery:
    """Sends pending chat notifications: at once when woken after a commit, and every
    `interval` seconds for retries and for what a previous run left behind."""

    def __init__(
        self,
        sessions: Sessions,
        send: Send,
        *,
        channel: str = "xmpp",
        clock: Callable[[], datetime] = utcnow,
        interval: float = 5.0,
    ) -> None:
        self.sessions = sessions
        self.send = send
        self.channel = channel
        self.clock = clock
        self.interval = interval
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def wake(self) -> None:
        self._wake.set()

    async def deliver_due(self) -> int:
        """Send what is due now; returns how many were sent.

        The batch is marked sent in one statement after it went out: a crash in between
        sends those again on restart (at least once), never loses them."""
        async with self._lock:  # one pass at a time, so nothing is sent twice
            async with self.sessions() as session:
                messages = await outbox.due_messages(session, self.channel, self.clock())
            sent: list[int] = []
            try:
                for message in messages:
                    try:
                        await self.send(message.address, message.text)
                    except NotConnected:
                        break
                    except Exception as exc:  # a broken message must not stop the others
                        await self._failed(message, exc)
                    else:
                        sent.append(message.id)
            finally:
                if sent:
                    async with self.sessions() as session, session.begin():
                        await outbox.mark_sent(session, sent, self.clock())
            return len(sent)

    async def _failed(self, message: Outbox, exc: Exception) -> None:
        log.warning("outbox %s to %s failed: %s", message.id, message.address, exc)
        async with self.sessions() as session, session.begin():
            await outbox.mark_failed(session, message, type(exc).__name__, self.clock())

    async def run(self) -> None:
        """Deliver until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                while await self.deliver_due() == outbox.BATCH:
                    pass  # a full batch: more may be waiting
            except Exception:
                log.exception("outbox delivery pass failed; will retry")
