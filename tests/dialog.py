"""An in-memory transport for the command core: chat with the bot without XMPP."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

from bot.channels import Envelope
from bot.delivery import OutboxDelivery
from commands.core import Helpdesk
from storage.db import Sessions, make_engine, make_sessions
from storage.models import Base, Outbox, Staff

DEPARTMENTS = [("it", "IT department"), ("ops", "Operators"), ("hr", "Human resources")]
# login, role, home, extras
STAFF = [
    ("admin", "admin", "ops", []),
    ("operator", "user", "ops", []),
    ("head_it", "coordinator", "it", []),
    ("w1", "user", "it", []),
    ("w2", "user", "it", []),
    ("head_hr", "coordinator", "hr", []),
    ("hr1", "user", "hr", []),
    ("multi", "user", "hr", ["it"]),
]
DOMAIN = "example.test"
START = datetime(2026, 11, 25, 9, 0)  # a bot's clock at first: Wednesday, 12:00 in Moscow


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


Behaviour = Callable[[Envelope], Awaitable[None]]


class MemoryChannel:
    """An in-memory channel: keeps what it was given. A test may set `behaviour` to
    raise the channel errors (bot/channels.py) instead."""

    def __init__(self) -> None:
        self.sent: list[Envelope] = []
        self.behaviour: Behaviour | None = None

    async def send(self, envelope: Envelope) -> None:
        if self.behaviour is not None:
            await self.behaviour(envelope)
        self.sent.append(envelope)

    def take(self) -> list[Envelope]:
        got, self.sent = self.sent, []
        return got


class MemoryChat(MemoryChannel):
    """Chat and room messages go in batches that `flush()` confirms."""

    async def flush(self) -> None:
        return None


class DialogBot:
    """`await bot.say("w1", "take #3")` returns the reply; `bot.inbox("head_it")` the
    notifications delivered to that person since the last look."""

    def __init__(self, engine: AsyncEngine, sessions: Sessions, clock: Clock) -> None:
        self.engine = engine
        self.sessions = sessions
        self.clock = clock
        self._delivered: dict[str, list[str]] = defaultdict(list)
        self.chat, self.room = MemoryChat(), MemoryChat()
        self.sms, self.email = MemoryChannel(), MemoryChannel()
        channels = {"xmpp": self.chat, "room": self.room, "sms": self.sms, "email": self.email}
        self.delivery = OutboxDelivery(sessions, channels, clock=clock)
        self.core = Helpdesk(
            sessions,
            language="en",
            timezone="Europe/Moscow",
            clock=clock,
            on_outbox=self.delivery.wake,
        )

    async def say(self, login: str, text: str, *, key: str | None = None) -> str | None:
        jid = login if "@" in login else f"{login}@{DOMAIN}/phone"
        reply = await self.core.handle(jid, text, message_key=key)
        await self.delivery.deliver_due()
        return reply

    async def setup(self, *, language: str = "en") -> None:
        """Departments and staff as in DEPARTMENTS and STAFF, made through admin commands."""
        for short, name in DEPARTMENTS:
            await self.core.run_admin("dept", ["add", short, name])
        for login, role, home, extras in STAFF:
            await self.core.run_admin(
                "staff", ["add", login, f"{login}@{DOMAIN}", role, home, *extras]
            )
            await self.core.run_admin("staff", ["set", login, "lang", language])

    @property
    def delivered(self) -> dict[str, list[str]]:
        """Chat notifications delivered and not looked at yet, by login."""
        for envelope in self.chat.take():
            self._delivered[envelope.address.split("@")[0]].append(envelope.text)
        return self._delivered

    def inbox(self, login: str) -> list[str]:
        """The chat notifications delivered to that person since the last look."""
        return self.delivered.pop(login, [])

    def nobody_else_notified(self) -> dict[str, list[str]]:
        return {k: v for k, v in self.delivered.items() if v}


async def make_dialog(url: str = "sqlite+aiosqlite://", clock: Clock | None = None) -> DialogBot:
    kwargs = {"poolclass": StaticPool} if url == "sqlite+aiosqlite://" else {}
    engine = make_engine(url, **kwargs)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    bot = DialogBot(engine, make_sessions(engine), clock or Clock(START))
    await bot.setup()
    return bot


def copy_of(template: Path, folder: Path, now: datetime) -> DialogBot:
    """A bot on a file copy of a prepared database: cheap per-test isolation
    (dispose of `bot.engine` afterwards)."""
    db = folder / "helpdesk.db"
    shutil.copy(template, db)
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    return DialogBot(engine, make_sessions(engine), Clock(now))


async def chat_key(bot: DialogBot, login: str, ticket: int) -> str:
    """The stanza id of the chat notification about #ticket that went to that person."""
    async with bot.sessions() as session:
        key = await session.scalar(
            select(Outbox.key)
            .join(Staff, Staff.id == Outbox.recipient_id)
            .where(Staff.login == login, Outbox.ticket_id == ticket, Outbox.channel == "xmpp")
            .order_by(Outbox.id)
        )
    assert key is not None
    return key
