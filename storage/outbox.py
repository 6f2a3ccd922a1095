"""The outbox: notifications written with their change, delivered after the commit."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Outbox, OutboxStatus

MAX_ATTEMPTS = 8
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


async def mark_sent(session: AsyncSession, message_ids: list[int], now: datetime) -> None:
    """Mark messages sent; only pending ones move (a dead one stays dead)."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(message_ids), Outbox.status == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.SENT.value, sent_at=now, attempts=Outbox.attempts + 1)
    )


def backoff(attempts: int) -> timedelta:
    """Exponential, capped at an hour, with jitter so retries do not come in waves."""
    base = min(3600.0, 5.0 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


async def mark_failed(session: AsyncSession, message: Outbox, error: str, now: datetime) -> None:
    """Schedule a retry, or give up into the dead-letter state after MAX_ATTEMPTS."""
    attempts = message.attempts + 1
    dead = attempts >= MAX_ATTEMPTS
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
