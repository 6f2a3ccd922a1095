"""The outbox delivery state machine (bot/delivery.py), with in-memory channels on SQLite:
states written before and after each call, retries, dead letters, interrupted calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from dialog import Clock, MemoryChannel, MemoryChat
from sqlalchemy import select
from sqlalchemy.pool import StaticPool

from bot.channels import Envelope, NotConnected, PermanentFailure, TemporaryFailure
from bot.delivery import OutboxDelivery
from storage import outbox
from storage.db import Sessions, make_engine, make_sessions
from storage.models import Base, Outbox

NOW = datetime(2026, 11, 25, 9, 0)


@pytest.fixture
async def sessions() -> AsyncIterator[Sessions]:
    engine = make_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield make_sessions(engine)
    await engine.dispose()


async def queue(sessions: Sessions, channel: str, *keys: str, status: str = "pending") -> None:
    async with sessions() as session, session.begin():
        session.add_all(
            Outbox(
                key=key,
                channel=channel,
                address=f"{key}@example.test",
                text=f"text of {key}",
                status=status,
                next_attempt_at=NOW,
                sending_at=NOW if status == "sending" else None,
            )
            for key in keys
        )


async def states(sessions: Sessions) -> dict[str, tuple[str, int]]:
    async with sessions() as session:
        rows = await session.execute(select(Outbox.key, Outbox.status, Outbox.attempts))
        return {key: (status, attempts) for key, status, attempts in rows}


class Watching(MemoryChannel):
    """Records the row's state in the database at the moment of each call."""

    def __init__(self, sessions: Sessions, idempotent: bool = False) -> None:
        super().__init__()
        self.sessions = sessions
        self.idempotent = idempotent
        self.seen_states: list[str] = []

    async def send(self, envelope: Envelope) -> None:
        async with self.sessions() as session:
            status = await session.scalar(select(Outbox.status).where(Outbox.key == envelope.key))
        self.seen_states.append(str(status))
        await super().send(envelope)


async def test_each_state_is_written_before_and_after_the_call(sessions: Sessions) -> None:
    sms = Watching(sessions)
    delivery = OutboxDelivery(sessions, {"sms": sms}, clock=Clock(NOW))
    await queue(sessions, "sms", "a", "b")
    assert await delivery.deliver_due() == 2
    assert sms.seen_states == ["sending", "sending"]
    assert [e.key for e in sms.sent] == ["a", "b"]
    assert await states(sessions) == {"a": ("sent", 1), "b": ("sent", 1)}
    assert await delivery.deliver_due() == 0  # and never again


async def test_a_chat_batch_is_sent_only_once_the_server_confirmed_it(sessions: Sessions) -> None:
    class Unconfirmed(MemoryChat):
        answering = False

        async def flush(self) -> None:
            if not self.answering:
                raise NotConnected("the server did not answer the ping")

        async def verify(self, message: Outbox) -> bool | None:
            return message.key == "a"  # the archive has `a` only

    chat = Unconfirmed()
    delivery = OutboxDelivery(sessions, {"xmpp": chat}, clock=Clock(NOW))
    await queue(sessions, "xmpp", "a", "b")
    assert await delivery.deliver_due() == 0
    # they may or may not have reached the server: left `sending`, to be verified
    assert await states(sessions) == {"a": ("sending", 0), "b": ("sending", 0)}
    chat.answering = True  # connected again: the next pass asks the archive first
    chat.take()
    assert await delivery.deliver_due() == 1
    assert [e.key for e in chat.take()] == ["b"]
    assert await states(sessions) == {"a": ("sent", 1), "b": ("sent", 1)}


async def test_interrupted_messages_are_verified_then_settled(sessions: Sessions) -> None:
    class Archive(MemoryChat):
        async def verify(self, message: Outbox) -> bool | None:
            return {"got": True, "lost": False}.get(message.key)

    chat = Archive()
    delivery = OutboxDelivery(sessions, {"xmpp": chat}, clock=Clock(NOW))
    await queue(sessions, "xmpp", "got", "lost", "unknown", status="sending")
    assert await delivery.deliver_due() == 2
    # the server had `got`: not sent again; `lost` and `unknown` (a chat message the
    # archive cannot tell about) go again
    assert [e.key for e in chat.sent] == ["lost", "unknown"]
    assert await states(sessions) == {
        "got": ("sent", 1),
        "lost": ("sent", 1),
        "unknown": ("sent", 1),
    }


async def test_an_interrupted_provider_call_is_repeated_only_when_idempotent(
    sessions: Sessions,
) -> None:
    email = Watching(sessions, idempotent=True)  # a Message-ID: clients drop the double
    sms = Watching(sessions, idempotent=False)  # no way to ask the provider
    delivery = OutboxDelivery(sessions, {"email": email, "sms": sms}, clock=Clock(NOW))
    await queue(sessions, "email", "mail")
    await queue(sessions, "sms", "text", status="sending")
    async with sessions() as session, session.begin():
        row = await session.scalar(select(Outbox).where(Outbox.key == "mail"))
        assert row is not None
        row.status = "sending"
    assert await delivery.deliver_due() == 1
    assert [e.key for e in email.sent] == ["mail"] and sms.sent == []
    got = await states(sessions)
    assert got == {"mail": ("sent", 1), "text": ("dead", 0)}
    async with sessions() as session:
        error = await session.scalar(select(Outbox.last_error).where(Outbox.key == "text"))
    assert error == "interrupted; not resent"


async def test_a_temporary_failure_retries_with_backoff_and_pauses_the_provider(
    sessions: Sessions,
) -> None:
    clock = Clock(NOW)
    sms = MemoryChannel()
    calls: list[str] = []

    async def down(envelope: Envelope) -> None:
        calls.append(envelope.key)
        raise TemporaryFailure("HTTP 503")

    sms.behaviour = down
    delivery = OutboxDelivery(sessions, {"sms": sms}, clock=clock)
    await queue(sessions, "sms", "a", "b", "c")
    assert await delivery.deliver_due() == 0
    assert calls == ["a"]  # the provider is down: the others are not tried now
    assert await states(sessions) == {
        "a": ("pending", 1),
        "b": ("pending", 0),
        "c": ("pending", 0),
    }
    pause = delivery.pause_for("sms")
    assert pause is not None and timedelta(seconds=3) < pause <= timedelta(seconds=6)
    assert await delivery.deliver_due() == 0 and calls == ["a"]  # paused
    sms.behaviour = None
    clock.now = NOW + timedelta(minutes=1)
    assert await delivery.deliver_due() == 3
    assert [e.key for e in sms.sent] == ["a", "b", "c"]
    assert delivery.pause_for("sms") is None


async def test_a_permanent_failure_is_a_dead_letter_at_once(sessions: Sessions) -> None:
    sms = MemoryChannel()

    async def refused(envelope: Envelope) -> None:
        if envelope.key == "bad":
            raise PermanentFailure("twilio: HTTP 400 code 21211")

    sms.behaviour = refused
    delivery = OutboxDelivery(sessions, {"sms": sms}, clock=Clock(NOW))
    await queue(sessions, "sms", "bad", "good")
    assert await delivery.deliver_due() == 1
    assert await states(sessions) == {"bad": ("dead", 1), "good": ("sent", 1)}
    async with sessions() as session:
        assert await outbox.dead_count(session) == 1
        error = await session.scalar(select(Outbox.last_error).where(Outbox.key == "bad"))
    assert error == "PermanentFailure: twilio: HTTP 400 code 21211"


async def test_gives_up_after_the_configured_attempts(sessions: Sessions) -> None:
    clock = Clock(NOW)
    email = MemoryChannel()

    async def failing(envelope: Envelope) -> None:
        raise TemporaryFailure("451 try later")

    email.behaviour = failing
    delivery = OutboxDelivery(sessions, {"email": email}, clock=clock, max_attempts=3)
    await queue(sessions, "email", "m")
    for _ in range(5):
        clock.now += timedelta(hours=2)
        await delivery.deliver_due()
    assert await states(sessions) == {"m": ("dead", 3)}


async def test_a_slow_channel_does_not_hold_up_chat(sessions: Sessions) -> None:
    chat = MemoryChat()
    sms = MemoryChannel()

    async def offline(envelope: Envelope) -> None:
        raise NotConnected("provider unreachable")

    sms.behaviour = offline
    delivery = OutboxDelivery(sessions, {"sms": sms, "xmpp": chat}, clock=Clock(NOW))
    await queue(sessions, "sms", "s1")
    await queue(sessions, "xmpp", "x1", "x2")
    assert await delivery.deliver_due() == 2
    assert [e.key for e in chat.sent] == ["x1", "x2"]
    assert await states(sessions) == {
        "s1": ("pending", 0),  # not connected spends no attempt
        "x1": ("sent", 1),
        "x2": ("sent", 1),
    }


async def test_a_chat_message_the_server_refuses_does_not_stop_the_batch(
    sessions: Sessions,
) -> None:
    chat = MemoryChat()

    async def picky(envelope: Envelope) -> None:
        if envelope.key == "b":
            raise PermanentFailure("malformed JID")

    chat.behaviour = picky
    delivery = OutboxDelivery(sessions, {"xmpp": chat}, clock=Clock(NOW))
    await queue(sessions, "xmpp", "a", "b", "c")
    assert await delivery.deliver_due() == 2
    assert await states(sessions) == {"a": ("sent", 1), "b": ("dead", 1), "c": ("sent", 1)}
