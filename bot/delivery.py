"""Delivers the outbox: one worker per channel (chat, room, SMS, e-mail), so a slow SMS
provider never delays chat.

Every message's state is written before and after the call that sends it:

- Chat and room messages go in batches: the batch is marked `sending`, sent, then the
  channel's `flush()` waits until the server has everything sent so far (a ping: the
  server answers in stream order), and only then is the batch marked `sent`.
- SMS and e-mail go one at a time: `sending` is committed before the provider is called,
  `sent` after it accepted.

A message found `sending` at the start of a pass was left by a crash or a lost
connection. The channel's `verify()` asks the far side whether it got it (the bot's
message archive, for chat): yes → sent; no → sent again. A channel that cannot tell is
sent again only when it is idempotent (it carries the message's key: an
Idempotency-Key header, a Message-ID); otherwise the message goes to the dead letters
with a note, because a double SMS is what must never happen (docs/notifications.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from bot.channels import Channel, Envelope, NotConnected, PermanentFailure, TemporaryFailure
from storage import outbox
from storage.clock import utcnow
from storage.db import Sessions
from storage.models import Outbox

log = logging.getLogger(__name__)

__all__ = ["NotConnected", "OutboxDelivery"]

PAUSE_MAX = timedelta(minutes=5)


@runtime_checkable
class Batched(Protocol):
    """A channel whose sends are only queued until `flush()` returns."""

    async def flush(self) -> None: ...


@runtime_checkable
class Verifiable(Protocol):
    """A channel that can tell whether a message reached the far side: True, False, or
    None when it cannot tell."""

    async def verify(self, message: Outbox) -> bool | None: ...


def _envelope(message: Outbox) -> Envelope:
    return Envelope(
        message.key, message.address, message.text, message.subject or "", message.ticket_id
    )


class _Worker:
    """Delivers one channel: woken after a commit, and every `interval` seconds."""

    def __init__(self, owner: OutboxDelivery, name: str, channel: Channel) -> None:
        self.owner = owner
        self.name = name
        self.channel = channel
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()
        self.paused_until: datetime | None = None  # the provider failed: give it time
        self.failures = 0
        # rows may be left `sending` by an earlier process or a lost connection: look
        # for them at the first pass and after an interrupted batch, not at every pass
        self.leftovers = True

    @property
    def batched(self) -> bool:
        return isinstance(self.channel, Batched)

    @property
    def idempotent(self) -> bool:
        return bool(getattr(self.channel, "idempotent", False))

    async def pass_(self) -> int:
        """One pass: settle leftovers, then send what is due; returns how many went."""
        owner = self.owner
        async with self.lock:  # one pass at a time per channel, so nothing goes twice
            if owner.stopping:
                return 0
            now = owner.clock()
            if self.paused_until is not None and now < self.paused_until:
                return 0
            if self.leftovers:
                self.leftovers = not await self._settle_leftovers()
            async with owner.sessions() as session:
                due = await outbox.due_messages(session, self.name, now)
            if not due:
                return 0
            if self.batched:
                return await self._send_batch(due)
            return await self._send_each(due)

    async def _settle_leftovers(self) -> bool:
        """Settle messages left `sending`; False when some must wait (not connected)."""
        owner = self.owner
        async with owner.sessions() as session:
            left = await outbox.sending_messages(session, self.name)
        for message in left:
            verdict = None
            if isinstance(self.channel, Verifiable):
                try:
                    verdict = await self.channel.verify(message)
                except NotConnected:
                    return False  # ask again when connected
            async with owner.sessions() as session, session.begin():
                if verdict is True:
                    log.info("outbox %s reached %s before the interruption", message.id, self.name)
                    await outbox.mark_sent(session, [message.id], owner.clock())
                elif verdict is False or self.idempotent or self.batched:
                    await outbox.back_to_pending(session, [message.id])
                else:
                    log.warning("outbox %s: interrupted during the %s call", message.id, self.name)
                    await outbox.mark_dead(session, message.id, "interrupted; not resent")
        return len(left) < outbox.BATCH  # a full batch: there may be more

    async def _send_batch(self, due: Sequence[Outbox]) -> int:
        owner = self.owner
        ids = [m.id for m in due]
        async with owner.sessions() as session, session.begin():
            await outbox.mark_sending(session, ids, owner.clock())
        sent: list[int] = []
        failed: list[tuple[Outbox, Exception]] = []
        for message in due:
            try:
                await self.channel.send(_envelope(message))
            except NotConnected:
                break
            except Exception as refused:  # this message is refused; the others go on
                failed.append((message, refused))
            else:
                sent.append(message.id)
        done = set(sent) | {m.id for m, _ in failed}
        async with owner.sessions() as session, session.begin():
            await outbox.back_to_pending(session, [i for i in ids if i not in done])
        for message, error in failed:
            await self._failed(message, error)
        if not sent:
            return 0
        try:
            assert isinstance(self.channel, Batched)
            await self.channel.flush()  # the server has them all now
        except NotConnected:
            self.leftovers = True
            return 0  # they stay `sending`: verified once connected again
        async with owner.sessions() as session, session.begin():
            await outbox.mark_sent(session, sent, owner.clock())
        return len(sent)

    async def _send_each(self, due: Sequence[Outbox]) -> int:
        owner = self.owner
        count = 0
        for message in due:
            if owner.stopping:
                break  # shutting down: the rest wait for the next run
            async with owner.sessions() as session, session.begin():
                await outbox.mark_sending(session, [message.id], owner.clock())
            try:
                await self.channel.send(_envelope(message))
            except NotConnected:
                async with owner.sessions() as session, session.begin():
                    await outbox.back_to_pending(session, [message.id])
                break
            except (TemporaryFailure, PermanentFailure) as exc:
                await self._failed(message, exc)
                if isinstance(exc, TemporaryFailure):
                    self._pause()
                    break  # the provider is in trouble: the rest wait for the next pass
                continue
            except Exception as exc:  # a bug in a channel must not stop the others
                log.exception("outbox %s: %s channel failed", message.id, self.name)
                await self._failed(message, exc)
                continue
            async with owner.sessions() as session, session.begin():
                await outbox.mark_sent(session, [message.id], owner.clock())
            self.failures, self.paused_until = 0, None
            count += 1
        return count

    def _pause(self) -> None:
        """Leave the provider alone for a while: doubling from 5 s, at most PAUSE_MAX, so
        a recovered provider is noticed within minutes."""
        self.failures += 1
        pause = min(outbox.backoff(self.failures), PAUSE_MAX)
        self.paused_until = self.owner.clock() + pause

    async def _failed(self, message: Outbox, exc: Exception) -> None:
        owner = self.owner
        permanent = isinstance(exc, PermanentFailure)
        text = str(exc) if isinstance(exc, TemporaryFailure | PermanentFailure) else ""
        error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        log.warning("outbox %s by %s failed: %s", message.id, self.name, error)
        limit = 1 if permanent else owner.max_attempts
        if message.attempts + 1 >= limit:
            log.error(
                "outbox %s by %s: gave up after %d attempts (%s); it is a dead letter",
                message.id, self.name, message.attempts + 1, error,
            )  # fmt: skip
        async with owner.sessions() as session, session.begin():
            await outbox.mark_failed(
                session,
                message,
                error,
                owner.clock(),
                max_attempts=limit,
            )

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.owner.interval)
            self.wake.clear()
            try:
                while await self.pass_() == outbox.BATCH:
                    pass  # a full batch: more may be waiting
            except Exception:
                log.exception("outbox delivery pass for %s failed; will retry", self.name)


class OutboxDelivery:
    """Sends pending notifications by their channels: at once when woken after a commit,
    and every `interval` seconds for retries and for what a previous run left behind."""

    def __init__(
        self,
        sessions: Sessions,
        channels: Mapping[str, Channel],
        *,
        clock: Callable[[], datetime] = utcnow,
        interval: float = 5.0,
        max_attempts: int = outbox.MAX_ATTEMPTS,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.interval = interval
        self.max_attempts = max_attempts
        self.workers = {name: _Worker(self, name, ch) for name, ch in channels.items()}
        self._tasks: list[asyncio.Task[None]] = []
        self.stopping = False

    def wake(self) -> None:
        for worker in self.workers.values():
            worker.wake.set()

    async def deliver_due(self) -> int:
        """One pass of every channel, one after the other; returns how many went."""
        return sum([await worker.pass_() for worker in self.workers.values()])

    async def stop(self, timeout: float = 10.0) -> None:
        """Let each channel finish the pass it is in (so no call is cut in half and no
        database connection is dropped mid-statement), then end the workers."""
        self.stopping = True

        async def settled(worker: _Worker) -> None:
            async with worker.lock:
                pass

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(settled(w) for w in self.workers.values())), timeout
            )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def run(self) -> None:
        """Deliver until cancelled or stopped: one task per channel."""
        self._tasks = [
            asyncio.create_task(worker.run(), name=f"outbox {name}")
            for name, worker in self.workers.items()
        ]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def pause_for(self, channel: str) -> timedelta | None:
        """How long a channel waits before it tries its provider again (for tests, stats)."""
        worker = self.workers.get(channel)
        if worker is None or worker.paused_until is None:
            return None
        return max(timedelta(0), worker.paused_until - self.clock())
