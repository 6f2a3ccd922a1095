"""Scratch databases for the storage tests: a SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

BACKENDS = ("sqlite", "postgresql")
PG_ENV = "HELPDESK_TEST_PG"
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PREFIX = "helpdesk_t_"


def pg_server_url() -> URL:
    """The database the tests connect to in order to create and drop their own."""
    return make_url(os.environ.get(PG_ENV, PG_DEFAULT))


def _server_engine(url: URL) -> AsyncEngine:
    # CREATE/DROP DATABASE refuse to run inside a transaction
    return create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def _unreachable(url: URL, exc: BaseException) -> NoReturn:
    shown = url.render_as_string(hide_password=True)
    problem = (
        f"PostgreSQL at {shown} is unreachable ({type(exc).__name__}: {exc}); start it, or "
        f"point {PG_ENV} at a server where this role may CREATE DATABASE."
    )
    if os.environ.get("CI"):
        # on CI the server is always there: its absence must fail, never turn tests green
        pytest.fail(problem, pytrace=False)
    # a newcomer's machine may have no PostgreSQL (config-and-cli.md: "where reachable")
    pytest.skip(problem)


async def _connect(engine: AsyncEngine, server: URL) -> AsyncConnection:
    try:
        return await engine.connect()
    except Exception as exc:  # refused, timed out, unknown role or database
        problem = exc
    await engine.dispose()
    _unreachable(server, problem)  # outside the except block: no chained traceback


async def create_pg_database(server: URL) -> URL:
    """A new empty database on the server; returns its URL."""
    name = f"{PREFIX}{secrets.token_hex(6)}"
    engine = _server_engine(server)
    conn = await _connect(engine, server)
    try:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await conn.close()
        await engine.dispose()
    return server.set(database=name)


async def drop_pg_database(server: URL, name: str) -> None:
    """Drop a test database, ending any connection a test left open to it."""
    assert name.startswith(PREFIX), name  # never drop anything the tests did not make
    engine = _server_engine(server)
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


async def pg_test_databases(server: URL) -> list[str]:
    """Names of the test databases currently on the server (left over, or in use)."""
    engine = _server_engine(server)
    try:
        async with engine.connect() as conn:
            rows = await conn.scalars(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p ORDER BY datname"),
                {"p": PREFIX.replace("_", r"\_") + "%"},
            )
            return list(rows)
    finally:
        await engine.dispose()


@asynccontextmanager
async def scratch_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database of this backend, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.sqlite3'}"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}")
    server = pg_server_url()
    url = await create_pg_database(server)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        assert url.database is not None
        await drop_pg_database(server, url.database)


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (with parameters) the engine runs inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
