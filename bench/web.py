"""The web page's response times at many tickets, beside a static file from the same server.

    .venv/bin/python -m bench.web [--tickets 100000] [--customers 100000]
        [--db sqlite|postgresql] [--shape desk|dense] [--rounds 50] [--out FILE]

Seeds a scratch database (a SQLite file in a temporary folder, or a new PostgreSQL database
on 127.0.0.1:5432, dropped afterwards): the demo departments and staff (bot/seed.py), the
customers as the importers write them, and N tickets in bulk (Core executemany, 10,000 a
chunk), about 25% of them calls, with priorities, taken and closed times, due dates on
some open ones, in one of two shapes:

- desk (the default): a desk of 30 staff for 2,000 employees, 300 calls and tickets a
  working day, so a million rows span about 9 years (a 30-day dashboard reads about 9,000
  of them); what is older than a month is closed but for 0.1%, what is younger is
  85% closed, what came today 40%; about 2,000 tickets open at a million;
- dense: the same count crammed into the last year (2,740 a day, 82,000 in 30 days) with a
  third of the tickets never closed (337,000 open at a million): a stress shape no desk
  of 30 reaches, kept to show how the reports scale with the rows of a period.

Then ANALYZE (PostgreSQL: VACUUM ANALYZE, as autovacuum leaves a settled table), and the
web app (web_readonly) is served in this process on a free loopback
port with an aiohttp AppRunner, its reports on a read-only engine as `helpdesk run` makes it.

An admin and a coordinator are signed in by writing a browser session directly
(storage/web_auth.start_session); each round then requests, in a shuffled order:

- GET /static/style.css: the baseline, a static file from the same server;
- GET /                : the dashboard, default period (30 days), admin and coordinator;
- GET /tickets         : the first page of the ticket list, admin and coordinator;
- GET /tickets?text=printer: the list filtered by a word of the text, admin and coordinator.

One client, one request at a time, over a kept-alive connection; each body is read in full
and its status checked (200, no redirect to the sign-in page). The first round warms up and
is not kept. Figures: p50, p99 and mean in ms, and p50/p99 above the static baseline; the
target (docs/quality: p50 <= 150 ms, p99 <= 400 ms at 1,000,000 tickets) is on the absolute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web
from sqlalchemy import func, insert, select, text

from bench.stack import DOMAIN, REPO, host_facts, scratch_database
from bench.stats import Summary
from bot import seed
from bot.config import WebConfig
from commands.core import Helpdesk
from storage import migrate
from storage.clock import utcnow
from storage.db import make_engine, make_sessions
from storage.models import Department, Kind, Staff, Status, Ticket
from storage.web_auth import start_session
from web_readonly.app import init_app, make_runner
from web_readonly.auth import COOKIE

TARGET_P50_MS = 150.0
TARGET_P99_MS = 400.0
BASELINE = "static"
PAGES = {
    "dashboard": "/",
    "tickets": "/tickets",
    "text": "/tickets?text=printer",
}
VIEWERS = ("admin", "head_it")  # an admin, a coordinator (bot/seed.py STAFF)
CHUNK = 10_000


SHAPES = ("desk", "dense")
DESK_PER_DAY = 300  # calls and tickets a day at a desk of 30 staff for 2,000 employees


def _fate(age_days: float, shape: str, rng: random.Random) -> str:
    """closed, in progress or new, for a ticket created `age_days` ago."""
    if shape == "dense":  # about 30% of all rows closed, 1/3 of the tickets left open
        fate = rng.random()
        return "closed" if fate < 0.3 / 0.75 else "in progress" if fate < 0.55 else "new"
    if age_days < 1:
        closed, working = 0.4, 0.3
    elif age_days < 30:
        closed, working = 0.85, 0.1
    else:  # a desk closes its work; a few forgotten ones stay open
        closed, working = 0.999, 0.0007
    fate = rng.random()
    return "closed" if fate < closed else "in progress" if fate < closed + working else "new"


def ticket_rows(
    count: int,
    *,
    staff: dict[str, int],
    departments: list[int],
    customers: int,
    rng: random.Random,
    span_days: float,
    shape: str,
) -> list[dict[str, object]]:
    """`count` tickets as dicts for a Core insert, created over the last `span_days`."""
    now = utcnow()
    workers = [staff[w] for w in ("petrov", "sidorov", "ivanova", "head_it", "head_fac")]
    creators = [staff["operator"], staff["admin"], staff["head_it"]]
    rows: list[dict[str, object]] = []
    for _ in range(count):
        age = timedelta(seconds=rng.randint(60, int(span_days * 24 * 3600)))
        created = now - age
        call = rng.random() < 0.25
        row: dict[str, object] = {
            "kind": Kind.CALL.value if call else Kind.TICKET.value,
            "text": seed.problem(rng),
            "customer_id": rng.randint(1, customers) if customers else None,
            "creator_id": rng.choice(creators),
            "department_id": rng.choice(departments),
            "target_staff_id": None,
            "holder_id": None,
            "status": Status.NEW.value,
            "priority": rng.choices((1, 2, 3, 4), weights=(15, 60, 18, 7))[0],
            "due": None,
            "created_at": created,
            "taken_at": None,
            "closed_at": None,
        }
        if call:  # a call is written down once, as it was handled
            row["status"] = Status.CLOSED.value
            row["closed_at"] = created
        else:
            if rng.random() < 0.2:
                row["target_staff_id"] = rng.choice(workers)
            fate = _fate(age / timedelta(days=1), shape, rng)
            if fate == "closed":
                taken = created + timedelta(minutes=rng.randint(1, 8 * 60))
                closed = min(taken + timedelta(minutes=rng.randint(5, 3 * 24 * 60)), now)
                row.update(
                    status=Status.CLOSED.value,
                    holder_id=rng.choice(workers),
                    taken_at=min(taken, closed),
                    closed_at=closed,
                )
            elif fate == "in progress":
                row.update(
                    status=Status.IN_PROGRESS.value,
                    holder_id=rng.choice(workers),
                    taken_at=min(created + timedelta(minutes=rng.randint(1, 8 * 60)), now),
                )
            if row["status"] != Status.CLOSED.value and rng.random() < 0.3:
                row["due"] = (created + timedelta(days=rng.randint(0, 14))).date()
        rows.append(row)
    return rows


def span_days(tickets: int, shape: str) -> float:
    """dense: a year, whatever the count; desk: DESK_PER_DAY records a day."""
    return 365.0 if shape == "dense" else max(1.0, tickets / DESK_PER_DAY)


async def seed_all(
    url: str, *, tickets: int, customers: int, rng: random.Random, shape: str = "desk"
) -> dict:
    """Schema, departments, staff, customers and tickets; ANALYZE; seconds each step took."""
    engine = make_engine(url)
    took: dict[str, float] = {}
    try:
        started = time.perf_counter()
        await migrate.upgrade(engine)
        sessions = make_sessions(engine)
        await seed.seed_staff(Helpdesk(sessions, language="en"), DOMAIN)
        await seed.seed_customers(sessions, customers, rng)
        took["schema_staff_customers_s"] = round(time.perf_counter() - started, 1)
        async with sessions() as session:
            staff = dict((await session.execute(select(Staff.login, Staff.id))).all())
            departments = list(await session.scalars(select(Department.id).order_by(Department.id)))
        started = time.perf_counter()
        table = Ticket.__table__
        for start in range(0, tickets, CHUNK):
            rows = ticket_rows(
                min(CHUNK, tickets - start),
                staff=staff, departments=departments, customers=customers, rng=rng,
                span_days=span_days(tickets, shape), shape=shape,
            )  # fmt: skip
            async with engine.begin() as conn:
                await conn.execute(insert(table), rows)
        took["tickets_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql":
                # what autovacuum does to a settled table: statistics and the visibility
                # map, without which no index-only scan skips the table
                await conn.execute(text("VACUUM ANALYZE"))
                version = str(await conn.scalar(text("SHOW server_version")))
            else:
                await conn.execute(text("ANALYZE"))
                version = sqlite3.sqlite_version
            open_tickets = await conn.scalar(
                select(func.count()).where(Ticket.status != Status.CLOSED.value)
            )
        took["analyze_s"] = round(time.perf_counter() - started, 1)
    finally:
        await engine.dispose()
    return {"seconds": took, "database_version": version, "open_tickets": open_tickets}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def measure(url: str, rounds: int, rng: random.Random) -> dict[str, list[float]]:
    engine = make_engine(url)
    read_engine = make_engine(url, readonly=True)
    sessions, read_sessions = make_sessions(engine), make_sessions(read_engine)
    port = free_port()
    config = WebConfig(listen=f"127.0.0.1:{port}")
    app = init_app(sessions, config, read_sessions=read_sessions, secure=False)
    runner = make_runner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    cookies: dict[str, str] = {}
    async with sessions() as session, session.begin():
        for login in VIEWERS:
            staff_id = await session.scalar(select(Staff.id).where(Staff.login == login))
            assert staff_id is not None, login
            cookies[login] = await start_session(session, staff_id, utcnow(), config.session_idle)
    requests = [(BASELINE, "/static/style.css", None)] + [
        (f"{page}/{login}", path, cookies[login])
        for page, path in PAGES.items()
        for login in VIEWERS
    ]
    samples: dict[str, list[float]] = {name: [] for name, _, _ in requests}
    base = f"http://127.0.0.1:{port}"
    try:
        async with ClientSession(
            connector=TCPConnector(limit=1), timeout=ClientTimeout(total=120)
        ) as client:
            for n in range(rounds + 1):
                order = requests[:]
                rng.shuffle(order)
                for name, path, cookie in order:
                    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
                    started = time.perf_counter()
                    async with client.get(base + path, headers=headers, allow_redirects=False) as r:
                        body = await r.read()
                    took = time.perf_counter() - started
                    if r.status != 200 or not body:
                        raise RuntimeError(f"{path} as {name}: HTTP {r.status}")
                    if n:  # round 0 warms up
                        samples[name].append(took)
    finally:
        await runner.cleanup()
        await engine.dispose()
        await read_engine.dispose()
    return samples


def machine() -> dict[str, object]:
    return host_facts(("aiohttp", "sqlalchemy", "aiosqlite", "asyncpg"))


def report(rows: dict[str, Summary]) -> str:
    base = rows[BASELINE]
    lines = [
        f"{'':18}{'n':>5}{'p50':>9}{'p99':>9}{'mean':>9}{'max':>9}{'p50-base':>10}"
        f"{'p99-base':>10}  target p50<={TARGET_P50_MS:g} p99<={TARGET_P99_MS:g}"
    ]
    for name, row in rows.items():
        cells = f"{name:18}{row.n:>5}{row.p50:>9.2f}{row.p99:>9.2f}{row.mean:>9.2f}{row.max:>9.1f}"
        if name == BASELINE:
            lines.append(f"{cells}{'—':>10}{'—':>10}  baseline")
            continue
        p50, p99 = row.above(base)
        verdict = "met" if row.p50 <= TARGET_P50_MS and row.p99 <= TARGET_P99_MS else "MISSED"
        lines.append(f"{cells}{p50:>+10.2f}{p99:>+10.2f}  {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--shape",
        choices=SHAPES,
        default="desk",
        help="desk: 300 records a day, work closed within weeks; dense: all in one year, "
        "a third of the tickets open",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    facts = machine()
    with (
        tempfile.TemporaryDirectory(prefix="bench-web-") as tmp,
        scratch_database(args.db, Path(tmp)) as url,
    ):
        print(
            f"seeding {args.tickets:,} tickets ({args.shape}), "
            f"{args.customers:,} customers ({args.db})"
        )
        seeded = asyncio.run(
            seed_all(url, tickets=args.tickets, customers=args.customers, rng=rng, shape=args.shape)
        )
        print(f"seeded: {seeded['seconds']}, {seeded['open_tickets']:,} open", flush=True)
        samples = asyncio.run(measure(url, args.rounds, rng))
    rows = {name: Summary.of(s) for name, s in samples.items()}
    base = rows[BASELINE]
    print(report(rows))
    result = {
        "benchmark": "web",
        "db": args.db,
        "database_version": seeded["database_version"],
        "tickets": args.tickets,
        "customers": args.customers,
        "shape": args.shape,
        "open_tickets": seeded["open_tickets"],
        "rounds": args.rounds,
        "seed_seconds": seeded["seconds"],
        "target_ms": {"p50": TARGET_P50_MS, "p99": TARGET_P99_MS},
        "machine": facts,
        "results": {
            name: {
                **row.as_json(),
                **(
                    {}
                    if name == BASELINE
                    else {
                        "p50_above_static": round(row.above(base)[0], 3),
                        "p99_above_static": round(row.above(base)[1], 3),
                        "meets_target": row.p50 <= TARGET_P50_MS and row.p99 <= TARGET_P99_MS,
                    }
                ),
            }
            for name, row in rows.items()
        },
    }
    name = f"web-{args.db}-{args.tickets}-{args.shape}.json"
    out = args.out or REPO / "bench" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
