"""The outbox: notifications written with their change, delivered after the commit."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Outbox, OutboxStatus

MAX_ATTEMPTS = 20  # with the backoff below: about 12 hours of trying
BATCH = 100


async def due_messages(
    session: AsyncSession, channel: str, now: datetime, limit: int = BATCH
) -> Sequence[Outbox]:
    """Pending messages of a channel whose time has come, oldest first."""
    rows = await session.scalars(
        select(Outbox)
        .where(
            Outbox.status == OutboxStatus.PENDING.value,
            Outbox.channel == channel,
            Outbox.next_attempt_at <= now,
        )
        .order_by(Outbox.id)
        .limit(limit)
    )
    return rows.all()


_LIVE = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)


async def sending_messages(session: AsyncSession, channel: str) -> Sequence[Outbox]:
    """Messages of a channel left `sending`: their call was interrupted."""
    rows = await session.scalars(
        select(Outbox)
        .where(Outbox.status == OutboxStatus.SENDING.value, Outbox.channel == channel)
        .order_by(Outbox.id)
        .limit(BATCH)
    )
    return rows.all()


async def mark_sending(session: AsyncSession, message_ids: list[int], now: datetime) -> None:
    """Written (and committed) before the call that sends them."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(message_ids), Outbox.status == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.SENDING.value, sending_at=now)
    )


async def back_to_pending(session: AsyncSession, message_ids: list[int]) -> None:
    """Not sent after all (not connected, or to be sent again): pending, no attempt counted."""
    if message_ids:
        await session.execute(
            update(Outbox)
            .where(Outbox.id.in_(message_ids), Outbox.status == OutboxStatus.SENDING.value)
            .values(status=OutboxStatus.PENDING.value)
        )


async def mark_sent(session: AsyncSession, message_ids: list[int], now: datetime) -> None:
    """Mark messages sent; only live ones move (a dead one stays dead)."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(message_ids), Outbox.status.in_(_LIVE))
        .values(status=OutboxStatus.SENT.value, sent_at=now, attempts=Outbox.attempts + 1)
    )


async def mark_dead(session: AsyncSession, message_id: int, error: str) -> None:
    await session.execute(
        update(Outbox)
        .where(Outbox.id == message_id)
        .values(status=OutboxStatus.DEAD.value, last_error=error[:255])
    )


def backoff(attempts: int) -> timedelta:
    """Exponential, capped at an hour, with jitter so retries do not come in waves."""
    base = min(3600.0, 5.0 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


async def mark_failed(
    session: AsyncSession,
    message: Outbox,
    error: str,
    now: datetime,
    max_attempts: int = MAX_ATTEMPTS,
) -> None:
    """Schedule a retry, or give up into the dead-letter state after `max_attempts`."""
    attempts = message.attempts + 1
    dead = attempts >= max_attempts
    await session.execute(
        update(Outbox)
        .where(Outbox.id == message.id)
        .values(
            attempts=attempts,
            last_error=error[:255],
            status=OutboxStatus.DEAD.value if dead else OutboxStatus.PENDING.value,
            next_attempt_at=now + backoff(attempts),
        )
    )


async def pending_count(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Outbox).where(Outbox.status == OutboxStatus.PENDING.value)
    )
    return count or 0


async def add_once(session: AsyncSession, rows: Sequence[Outbox]) -> int:
    """Insert rows whose key is not there yet; returns how many were new. The scheduled
    jobs write through this, so a job run twice (or after a restart) sends nothing twice."""
    if not rows:
        return 0
    columns = [c.key for c in Outbox.__table__.columns if c.key != "id"]
    values = [{c: getattr(row, c) for c in columns if getattr(row, c) is not None} for row in rows]
    dialect = session.bind.dialect.name if session.bind is not None else ""
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    added = 0
    for value in values:  # one by one: rows may differ in which columns they set
        statement = insert(Outbox).values(value).on_conflict_do_nothing(index_elements=["key"])
        result = await session.execute(statement.returning(Outbox.id))
        added += result.scalar() is not None
    return added


async def hold(session: AsyncSession, staff_id: int, until: datetime, now: datetime) -> int:
    """`mute`: a person's pending non-urgent messages wait until `until`."""
    result = await session.execute(
        update(Outbox)
        .where(
            Outbox.recipient_id == staff_id,
            Outbox.status == OutboxStatus.PENDING.value,
            Outbox.urgent.is_(False),
            Outbox.next_attempt_at < until,
            Outbox.attempts == 0,
        )
        .values(next_attempt_at=until)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def release(session: AsyncSession, staff_id: int, now: datetime) -> int:
    """`unmute`: what a mute held back goes out now (retries keep their own time)."""
    result = await session.execute(
        update(Outbox)
        .where(
            Outbox.recipient_id == staff_id,
            Outbox.status == OutboxStatus.PENDING.value,
            Outbox.next_attempt_at > now,
            Outbox.attempts == 0,
            Outbox.channel != "sms",  # SMS held for quiet hours stays held
        )
        .values(next_attempt_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def dead_count(session: AsyncSession) -> int:
    """Messages given up on: admins see the count in `stats` (and on the web page)."""
    count = await session.scalar(
        select(func.count()).select_from(Outbox).where(Outbox.status == OutboxStatus.DEAD.value)
    )
    return count or 0
