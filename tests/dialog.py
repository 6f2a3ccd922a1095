"""An in-memory transport for the command core: chat with the bot without XMPP."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

from bot.delivery import OutboxDelivery
from commands.core import Helpdesk
from storage.db import Sessions, make_engine, make_sessions
from storage.models import Base

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


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class DialogBot:
    """`await bot.say("w1", "take #3")` returns the reply; `bot.inbox("head_it")` the
    notifications delivered to that person since the last look."""

    def __init__(self, engine: AsyncEngine, sessions: Sessions, clock: Clock) -> None:
        self.engine = engine
        self.sessions = sessions
        self.clock = clock
        self.delivered: dict[str, list[str]] = defaultdict(list)
        self.delivery = OutboxDelivery(sessions, self._send, clock=clock)
        self.core = Helpdesk(
            sessions,
            language="en",
            timezone="Europe/Moscow",
            clock=clock,
            on_outbox=self.delivery.wake,
        )

    async def _send(self, jid: str, text: str) -> None:
        self.delivered[jid.split("@")[0]].append(text)

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

    def inbox(self, login: str) -> list[str]:
        got = self.delivered.pop(login, [])
        return got

    def nobody_else_notified(self) -> dict[str, list[str]]:
        return {k: v for k, v in self.delivered.items() if v}


async def make_dialog(url: str = "sqlite+aiosqlite://", clock: Clock | None = None) -> DialogBot:
    kwargs = {"poolclass": StaticPool} if url == "sqlite+aiosqlite://" else {}
    engine = make_engine(url, **kwargs)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    bot = DialogBot(engine, make_sessions(engine), clock or Clock(datetime(2026, 11, 25, 9, 0)))
    await bot.setup()
    return bot


def copy_of(template: Path, folder: Path, now: datetime) -> DialogBot:
    """A bot on a file copy of a prepared database: cheap per-test isolation
    (dispose of `bot.engine` afterwards)."""
    db = folder / "helpdesk.db"
    shutil.copy(template, db)
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    return DialogBot(engine, make_sessions(engine), Clock(now))
