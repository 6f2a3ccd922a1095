"""Engines and sessions: one async engine per process, one session per command."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

Sessions = async_sessionmaker[AsyncSession]


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # the driver would BEGIN only at the first write, leaving a command's reads outside
    # its transaction; `_sqlite_begin` starts it instead
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin_deferred(conn: Connection) -> None:
    # a reader: WAL lets it read a consistent snapshot while the bot writes
    conn.exec_driver_sql("BEGIN")


def _sqlite_begin(conn: Connection) -> None:
    # SQLite has no row locks: taking the write lock at BEGIN is what keeps two commands
    # that read a ticket and then change it (two `take #N` at once) from both winning
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, readonly: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite with foreign keys on, WAL journaling, and each
    transaction holding the write lock from its start. A `readonly` engine (the web
    page's reports and exports) begins plainly instead, so a long export never holds
    the lock the bot's commands need."""
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        begin = _sqlite_begin_deferred if readonly else _sqlite_begin
        event.listen(engine.sync_engine, "begin", begin)
    return engine


def make_sessions(engine: AsyncEngine) -> Sessions:
    return async_sessionmaker(engine, expire_on_commit=False)
