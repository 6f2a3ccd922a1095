"""What a benchmark runs on: child processes, a scratch database, seeded data, machine facts."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import platform
import random
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot import seed
from bot.prosody import ProsodyServer
from commands.core import Helpdesk
from storage import migrate, queries
from storage.access import visible_to
from storage.db import make_engine, make_sessions
from storage.models import Department, Ticket

REPO = Path(__file__).resolve().parents[1]
DOMAIN = "localhost"  # seed_staff gives every staff member login@DOMAIN
PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_PREFIX = "bench_"
# Children still running when the interpreter exits (a crash): killed by _kill_leftovers.
_RUNNING: set[subprocess.Popen[bytes]] = set()


class StackFailed(RuntimeError):
    """A child process died or did not come up in time."""


@dataclass
class Child:
    """A process of ours, its output in `log`, in its own session (Ctrl-C is ours to pass on)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, argv: Sequence[str], workdir: Path, env: dict[str, str]) -> Child:
        log = workdir / f"{name}.log"
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        with log.open("ab") as out:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env={**os.environ, "PYTHONPATH": path, **env},
                start_new_session=True,
            )
        _RUNNING.add(process)
        return cls(name, process, log)

    def wait_for(self, line: str, timeout: float) -> None:
        """Return once `line` is in the log; StackFailed if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while line not in self.output():
            if self.process.poll() is not None:
                code = self.process.returncode
                raise StackFailed(f"{self.name} exited with {code}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise StackFailed(f"{self.name} did not say {line!r} in {timeout}s:\n{self.tail()}")
            time.sleep(0.02)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL if it lingers; nothing if it has already ended."""
        _RUNNING.discard(self.process)
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_RUNNING):
        process.kill()
        process.wait()


def register_accounts(prosody: ProsodyServer, logins: Sequence[str]) -> dict[str, str]:
    """A fresh random password for each login@DOMAIN; returns login -> password."""
    passwords = {login: secrets.token_urlsafe(12) for login in logins}
    for login, password in passwords.items():
        prosody.register(login, password)
    return passwords


# --- the database ---------------------------------------------------------------------------
async def _on_pg_server(server: str, statements: Sequence[str]) -> None:
    # CREATE/DROP DATABASE refuse to run inside a transaction
    engine = create_async_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def scratch_database(kind: str, workdir: Path, pg_server: str = PG_SERVER) -> Iterator[str]:
    """The URL of an empty database: a SQLite file in workdir, or a new PostgreSQL
    database on pg_server, dropped on the way out."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'helpdesk.db'}"
        return
    name = f"{PG_PREFIX}{secrets.token_hex(6)}"
    asyncio.run(_on_pg_server(pg_server, [f'CREATE DATABASE "{name}"']))
    try:
        yield make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(
            _on_pg_server(
                pg_server,
                [
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
                    f'DROP DATABASE IF EXISTS "{name}"',
                ],
            )
        )


@dataclass(frozen=True)
class Seeded:
    visible_ids: list[int]  # tickets the measuring staff member may see
    database_version: str


async def seed_database(
    url: str, *, tickets: int, customers: int, viewer: str, rng: random.Random
) -> Seeded:
    """Schema, the demo departments and staff, customers and `tickets` bulk tickets."""
    engine = make_engine(url)
    try:
        await migrate.upgrade(engine)
        sessions = make_sessions(engine)
        await seed.seed_staff(Helpdesk(sessions, language="en"), DOMAIN)
        await seed.seed_customers(sessions, customers, rng)
        async with sessions() as session:
            operator = await queries.staff_by_login(session, "operator")
            departments = list(await session.scalars(select(Department.id).order_by(Department.id)))
        assert operator is not None
        await seed.bulk_tickets(
            sessions, tickets, creator_id=operator.id, department_ids=departments,
            customers=customers, rng=rng,
        )  # fmt: skip
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # what autovacuum would do within a minute of a bulk load
                await conn.execute(text("ANALYZE"))
                version = str(await conn.scalar(text("SHOW server_version")))
            else:
                version = sqlite3.sqlite_version
        async with sessions() as session:
            actor = await queries.actor_for_jid(session, f"{viewer}@{DOMAIN}", "en")
            assert actor is not None, viewer
            visible = list(await session.scalars(select(Ticket.id).where(visible_to(actor))))
    finally:
        await engine.dispose()
    return Seeded(visible, version)


def cpu_ns(pid: int) -> tuple[int, int]:
    """CPU time a process has had so far, in nanoseconds (Linux): (its main thread, all
    its other threads together)."""
    main = others = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):  # a thread that just ended
            spent = int((task / "schedstat").read_text().split()[0])
            if task.name == str(pid):
                main = spent
            else:
                others += spent
    return main, others


def database_backends_cpu_ns(database: str) -> dict[int, int]:
    """CPU nanoseconds of each PostgreSQL backend process serving `database`, by PID
    (found by their process titles, `postgres: ... USER DATABASE HOST(PORT) STATE`)."""
    spent: dict[int, int] = {}
    marker = f" {database} ".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            title = (proc / "cmdline").read_bytes()
            if title.startswith(b"postgres: ") and marker in title:
                spent[int(proc.name)] = int((proc / "schedstat").read_text().split()[0])
    return spent


def git_state() -> str:
    """The commit benchmarked, with `+changes` when the work tree differed from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+changes" if dirty.strip() else "")  # fmt: skip


# --- the machine ----------------------------------------------------------------------------
def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _memory_mb() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


def _prosody_version(prosody: ProsodyServer) -> str:
    try:
        about = subprocess.run(
            ["prosodyctl", "--config", str(prosody.config_path), "about"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    first = about.stdout.strip().splitlines()[:1]
    return first[0].removeprefix("Prosody ").strip() if first else "?"


def host_facts(packages: tuple[str, ...]) -> dict[str, object]:
    """The machine, its load, Python and the given packages' versions, the commit."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_mb": _memory_mb(),
        "system": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        **{name: metadata.version(name) for name in packages},
        "python_executable": sys.executable,
        "commit": git_state(),
    }


def machine_facts(prosody: ProsodyServer) -> dict[str, object]:
    facts = host_facts(("slixmpp", "sqlalchemy", "aiosqlite", "asyncpg"))
    return {**facts, "prosody": _prosody_version(prosody)}
