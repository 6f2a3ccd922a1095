"""Sign-in links and browser sessions of the web page; only SHA-256 of their secrets is stored.

A leaked database therefore signs no one in: the link token and the session id exist only in
the chat message and in the browser's cookie. Each function takes the caller's session and
runs inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import queries
from storage.access import Actor
from storage.models import Staff, WebLink, WebSession

MAX_SECRET = 128  # token_urlsafe(32) is 43 characters; anything much longer is not ours


def digest(secret: str) -> str:
    """The stored form of a link token or a session id."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _plausible(secret: str) -> bool:
    return 0 < len(secret) <= MAX_SECRET


async def create_link(
    session: AsyncSession, staff_id: int, now: datetime, lifetime: timedelta
) -> str:
    """A new one-time sign-in token for this person, valid for `lifetime` from `now`.

    Links that expired are deleted on the way: they can never be used again."""
    await session.execute(delete(WebLink).where(WebLink.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(
        WebLink(
            token_hash=digest(token), staff_id=staff_id, created_at=now, expires_at=now + lifetime
        )
    )
    await session.flush()
    return token


async def redeem_link(session: AsyncSession, token: str, now: datetime) -> int | None:
    """The staff id a valid link belongs to, marking it used; None when the token is unknown,
    used, expired (at exactly `expires_at` too) or its person has no access any more.

    One UPDATE: of two requests with the same token only one finds it unused."""
    if not _plausible(token):
        return None
    redeemed = await session.execute(
        update(WebLink)
        .where(
            WebLink.token_hash == digest(token),
            WebLink.used_at.is_(None),
            WebLink.expires_at > now,
            WebLink.staff_id.in_(select(Staff.id).where(Staff.active)),
        )
        .values(used_at=now)
        .returning(WebLink.staff_id)
    )
    return redeemed.scalar()


async def start_session(
    session: AsyncSession, staff_id: int, now: datetime, idle: timedelta
) -> str:
    """A new browser session for this person; returns the id for the cookie.

    Sessions idle longer than `idle` are deleted on the way."""
    await session.execute(delete(WebSession).where(WebSession.last_seen_at <= now - idle))
    session_id = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            session_hash=digest(session_id), staff_id=staff_id, created_at=now, last_seen_at=now
        )
    )
    await session.flush()
    return session_id


async def resume_session(
    session: AsyncSession, session_id: str, now: datetime, idle: timedelta, language: str
) -> Actor | None:
    """The person signed in by this session id, keeping the session alive (its idle time
    starts again); None when it is unknown, ended, idle for `idle` or longer, or its person
    has no access any more."""
    if not _plausible(session_id):
        return None
    resumed = await session.execute(
        update(WebSession)
        .where(
            WebSession.session_hash == digest(session_id),
            WebSession.last_seen_at > now - idle,
        )
        .values(last_seen_at=now)
        .returning(WebSession.staff_id)
    )
    staff_id = resumed.scalar()
    if staff_id is None:  # an idle one is over for good
        await end_session(session, session_id)
        return None
    jid = await session.scalar(select(Staff.jid).where(Staff.id == staff_id))
    # actor_for_jid loads only active staff: someone switched off mid-session is signed out
    return None if jid is None else await queries.actor_for_jid(session, jid, language)


async def end_session(session: AsyncSession, session_id: str) -> None:
    """Sign this browser out: the session id is worthless from now on."""
    if _plausible(session_id):
        await session.execute(
            delete(WebSession).where(WebSession.session_hash == digest(session_id))
        )
