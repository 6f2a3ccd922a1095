"""The web page's reports read through an engine that never takes SQLite's write lock, so a
long export cannot stall the bot's commands (storage/db.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select, text

from storage import migrate
from storage.db import make_engine, make_sessions
from storage.models import Department


async def test_a_long_read_does_not_block_a_write(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hd.db'}"
    writer = make_engine(url)
    reader = make_engine(url, readonly=True)
    try:
        await migrate.upgrade(writer)
        async with make_sessions(reader)() as report, report.begin():
            before = await report.scalar(select(func.count()).select_from(Department))
            # the report's transaction is still open: a command writes meanwhile
            async with make_sessions(writer)() as command, command.begin():
                await command.execute(text("PRAGMA busy_timeout=200"))
                command.add(Department(short="it", name="IT"))
            # and the report keeps reading its own snapshot
            again = await report.scalar(select(func.count()).select_from(Department))
            assert (before, again) == (0, 0)
        async with make_sessions(reader)() as later:
            assert await later.scalar(select(func.count()).select_from(Department)) == 1
    finally:
        await asyncio.gather(writer.dispose(), reader.dispose())
