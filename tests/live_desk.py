"""`helpdesk run` against a test Prosody, as the integration tests set it up: the settings
a test desk starts from, its departments and staff made through admin commands, the bot
running as a task of the test's loop, and rows read back from its database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Select
from xmpp_client import Account, AccountFactory

from bot.app import run
from bot.config import Config, parse_config
from bot.prosody import ProsodyServer
from commands.core import Helpdesk
from storage import migrate
from storage.db import Sessions, make_engine, make_sessions

# login, role, home department (a row may carry more: seed reads the first three)
StaffRow = tuple[str, ...]


def bot_settings(
    server: ProsodyServer,
    bot: Account,
    folder: Path,
    *,
    xmpp_extra: Mapping[str, Any] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """What a test's bot.yaml holds: `bot` on `server` without TLS, a SQLite database in
    `folder`, no quiet hours, English. `xmpp_extra` adds to the xmpp section (rooms...);
    each of `sections` replaces or adds a whole section, and one given as None is left
    out (the bot's defaults)."""
    settings: dict[str, Any] = {
        "xmpp": {
            "jid": bot.jid,
            "password": bot.password,
            "tls": "none",
            "server": f"{server.host}:{server.c2s_port}",
            **(xmpp_extra or {}),
        },
        "database": {"url": f"sqlite+aiosqlite:///{folder / 'hd.db'}"},
        "notifications": {"quiet_hours": None},
        "language": "en",
    }
    settings.update(sections)
    return {name: value for name, value in settings.items() if value is not None}


def bot_config(
    server: ProsodyServer,
    bot: Account,
    folder: Path,
    *,
    xmpp_extra: Mapping[str, Any] | None = None,
    **sections: Any,
) -> Config:
    """`bot_settings(...)` read as the bot reads its file (no environment overrides)."""
    return parse_config(bot_settings(server, bot, folder, xmpp_extra=xmpp_extra, **sections), {})


def staff_accounts(xmpp_account: AccountFactory, staff: Iterable[StaffRow]) -> dict[str, Account]:
    """A fresh account on the test server for each login, named after it (no underscores)."""
    return {login: xmpp_account(login.replace("_", "")) for login, *_ in staff}


@asynccontextmanager
async def database(config: Config) -> AsyncIterator[Sessions]:
    """Sessions on the bot's database, its engine disposed after."""
    engine = make_engine(config.database.url)
    try:
        yield make_sessions(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def helpdesk_core(config: Config) -> AsyncIterator[Helpdesk]:
    """The command core on the bot's database, as `helpdesk admin` runs it (in English);
    its engine disposed after."""
    async with database(config) as sessions:
        yield Helpdesk(sessions, language="en")


async def seed(
    config: Config,
    staff: Iterable[StaffRow],
    accounts: Mapping[str, Account],
    departments: Sequence[str] | Mapping[str, str],
    *,
    language: str | Mapping[str, str] | None = "en",
    phones: bool = False,
) -> None:
    """Migrate the database, then through admin commands: add the departments (short
    names, each named in capitals, or short name -> name), then each staff member with
    the JID of their account and `language` (one for all, one per login, or None: not
    set); with `phones`, the n-th of them (from 0) gets +7916000000n."""
    names = departments if isinstance(departments, Mapping) else {d: d.upper() for d in departments}
    engine = make_engine(config.database.url)
    try:
        await migrate.upgrade(engine)
        core = Helpdesk(make_sessions(engine), language="en")
        for short, name in names.items():
            await core.run_admin("dept", ["add", short, name])
        for n, (login, role, home, *_) in enumerate(staff):
            await core.run_admin("staff", ["add", login, accounts[login].jid, role, home])
            lang = language.get(login) if isinstance(language, Mapping) else language
            if lang is not None:
                await core.run_admin("staff", ["set", login, "lang", lang])
            if phones:
                await core.run_admin("staff", ["set", login, "phone", f"+7916000000{n}"])
    finally:
        await engine.dispose()


class BotTask:
    """`helpdesk run` (bot.app.run) as a task of the running loop; it may be stopped and
    started again, as an operator restarts the bot."""

    def __init__(self, config: Config, *, stop_within: float = 15) -> None:
        self.config = config
        self.stop_within = stop_within
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def jid(self) -> str:
        return self.config.xmpp.jid

    def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(run(self.config, self._stop))

    async def stop(self) -> None:
        """Ask it to stop and wait for it to finish (an error it ended with is raised)."""
        self._stop.set()
        if self._task is not None:
            task, self._task = self._task, None
            await asyncio.wait_for(task, self.stop_within)


@asynccontextmanager
async def running(config: Config, *, stop_within: float = 15) -> AsyncIterator[BotTask]:
    """The bot running for the block, stopped cleanly after it."""
    bot = BotTask(config, stop_within=stop_within)
    bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


async def read(config: Config, query: Select[*tuple[Any, ...]]) -> list[Any]:
    """The rows of `query` on the bot's database: one value a row (an object, a column's
    value) where it selects one thing, else a tuple a row."""
    async with database(config) as sessions, sessions() as session:
        result = await session.execute(query)
        if len(query.column_descriptions) == 1:
            return list(result.scalars())
        return [tuple(row) for row in result]
