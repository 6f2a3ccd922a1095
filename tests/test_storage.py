"""Storage on both SQLite and PostgreSQL: migrations, foreign keys, the access condition
in SQL, a whole dialogue's rows, the outbox, indexes, and the row lock behind `take`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from databases import BACKENDS, scratch_database, statements
from dialog import DialogBot, make_dialog
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage import migrate, outbox, queries
from storage.access import Actor
from storage.db import make_engine, make_sessions
from storage.models import (
    Base,
    Department,
    Outbox,
    OutboxStatus,
    Status,
    Ticket,
    TicketEvent,
)

NOW = datetime(2026, 11, 25, 9, 0)


@pytest.fixture(
    params=[
        pytest.param(b, marks=[pytest.mark.postgres] if b == "postgresql" else []) for b in BACKENDS
    ]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: a SQLite file, or a PostgreSQL database made for this test."""
    async with scratch_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def migrated(engine: AsyncEngine) -> AsyncEngine:
    await migrate.upgrade(engine)
    return engine


@pytest.fixture
async def bot(database_url: str) -> AsyncIterator[DialogBot]:
    """The dialogue harness on this backend; its schema comes from metadata.create_all."""
    bot = await make_dialog(database_url)
    yield bot
    await bot.engine.dispose()


async def actor(session: AsyncSession, login: str) -> Actor:
    staff = await queries.staff_by_login(session, login)
    assert staff is not None, login
    found = await queries.actor_for_jid(session, staff.jid, "en")
    assert found is not None, login
    return found


async def staff_id(bot: DialogBot, login: str) -> int:
    async with bot.sessions() as session:
        return (await actor(session, login)).id


async def opened(bot: DialogBot, login: str, message: str) -> int:
    """Open a ticket through the chat; returns its number."""
    reply = await bot.say(login, message)
    found = re.fullmatch(r"Ticket #(\d+) opened for .*", reply or "")
    assert found is not None, reply
    return int(found[1])


# --- migrations -------------------------------------------------------------------------


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_apply_once_and_match_the_models(engine: AsyncEngine) -> None:
    revisions = ["0001", "0002", "0003", "0004", "0005", "0006"]
    assert await migrate.pending(engine) == revisions
    assert await migrate.upgrade(engine) == revisions
    assert await migrate.upgrade(engine) == []
    assert await migrate.pending(engine) == []
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []


# --- foreign keys -----------------------------------------------------------------------


async def test_foreign_keys_are_enforced(migrated: AsyncEngine) -> None:
    sessions = make_sessions(migrated)
    async with sessions() as session, session.begin():
        session.add(Department(short="it", name="IT"))
    async with sessions() as session:
        if migrated.dialect.name == "sqlite":
            assert await session.scalar(text("PRAGMA foreign_keys")) == 1
        dept = await queries.department_by_short(session, "it")
        assert dept is not None
        session.add(Ticket(text="orphan", creator_id=4242, department_id=dept.id))
        with pytest.raises(IntegrityError):
            await session.commit()
    async with sessions() as session:
        assert await session.scalar(select(Ticket.id)) is None


# --- the access condition in SQL --------------------------------------------------------

# Tickets opened by `seed_tickets`, by number:
#   1 operator -> @it            department, no target person
#   2 operator -> @w1            a person (home it)
#   3 w2       -> @hr            created by a user, for another department
#   4 operator -> @multi         a person whose home is hr and who also works in it
#   5 hr1      -> @ops           created by a user
#   6 operator -> @it, closed    visible but not open
#   7 admin, department ops, target w1 (home it): a person outside the ticket's department
# Staff as in tests/dialog.py, plus coord2: coordinator of ops with the extra department hr.
OPEN_SEEN = {
    "admin": {1, 2, 3, 4, 5, 7},
    "operator": {1, 2, 4, 5},
    "head_it": {1, 2, 7},
    "w1": {1, 2, 7},
    "w2": {1, 3},
    "head_hr": {3, 4},
    "hr1": {3, 5},
    "multi": {1, 3, 4},
    "coord2": {3, 4, 5, 7},
}
CLOSED_SEEN = {"admin", "operator", "head_it", "w1", "w2", "multi"}  # who sees #6
IT_TICKETS = {1, 2, 6}


async def seed_tickets(bot: DialogBot) -> None:
    await bot.core.run_admin(
        "staff", ["add", "coord2", "coord2@example.test", "coordinator", "ops", "hr"]
    )
    numbers = [
        await opened(bot, "operator", "new printer @it"),
        await opened(bot, "operator", "new laptop @w1"),
        await opened(bot, "w2", "new badge @hr"),
        await opened(bot, "operator", "new payroll @multi"),
        await opened(bot, "hr1", "new visa @ops"),
        await opened(bot, "operator", "new old printer @it"),
    ]
    assert numbers == [1, 2, 3, 4, 5, 6]
    assert await bot.say("admin", "close #6") == "#6 closed."
    # The chat always files a person's ticket under their home department; a row like
    # this appears when someone changes department, so it is written directly.
    async with bot.sessions() as session, session.begin():
        admin, w1 = await actor(session, "admin"), await actor(session, "w1")
        ops = await queries.department_by_short(session, "ops")
        assert ops is not None
        ticket = Ticket(
            text="moved", creator_id=admin.id, department_id=ops.id, target_staff_id=w1.id
        )
        session.add(ticket)
        await session.flush()
        assert ticket.id == 7


async def test_open_tickets_and_visible_ticket_apply_the_access_rules(bot: DialogBot) -> None:
    await seed_tickets(bot)
    open_seen: dict[str, set[int]] = {}
    it_seen: dict[str, set[int]] = {}
    visible: dict[str, set[int]] = {}
    async with bot.sessions() as session:
        it = await queries.department_by_short(session, "it")
        assert it is not None
        for login in OPEN_SEEN:
            person = await actor(session, login)
            rows, total = await queries.open_tickets(session, person, queries.ListFilter(), 50)
            assert total == len(rows)
            assert [t.id for t in rows] == sorted((t.id for t in rows), reverse=True)
            open_seen[login] = {t.id for t in rows}
            flt = queries.ListFilter(department_id=it.id)
            it_seen[login] = {
                t.id for t in (await queries.open_tickets(session, person, flt, 50))[0]
            }
            visible[login] = {
                n
                for n in range(1, 10)
                if await queries.visible_ticket(session, person, n) is not None
            }
    assert open_seen == OPEN_SEEN
    assert it_seen == {login: seen & IT_TICKETS for login, seen in OPEN_SEEN.items()}
    assert visible == {
        login: seen | ({6} if login in CLOSED_SEEN else set()) for login, seen in OPEN_SEEN.items()
    }


# --- a whole dialogue -------------------------------------------------------------------


async def test_a_dialogue_leaves_the_expected_rows(bot: DialogBot) -> None:
    start = bot.clock.now
    steps = [
        ("w1", "take #1", "#1 is yours now."),
        ("operator", "#1 toner is empty", "Comment added to #1."),
        ("w1", "close #1 replaced toner", "#1 closed."),
        ("operator", "reopen #1 still jams", "#1 reopened."),
    ]
    assert await opened(bot, "operator", "new printer jams @it") == 1
    for login, message, reply in steps:
        bot.clock.now += timedelta(minutes=5)
        assert await bot.say(login, message) == reply
    ids = {
        login: await staff_id(bot, login) for login in ("operator", "head_it", "w1", "w2", "multi")
    }
    logins = {i: login for login, i in ids.items()}

    async with bot.sessions() as session:
        ticket = await session.get(Ticket, 1)
        events = await queries.history(session, 1)
        rows = (await session.scalars(select(Outbox).order_by(Outbox.id))).all()
    assert ticket is not None
    assert (ticket.status, ticket.holder_id, ticket.creator_id, ticket.target_staff_id) == (
        Status.IN_PROGRESS.value,
        ids["w1"],
        ids["operator"],
        None,
    )
    assert (ticket.created_at, ticket.taken_at, ticket.closed_at) == (
        start,
        start + timedelta(minutes=5),
        None,
    )
    assert [(e.action, logins[e.actor_id or 0], e.field, e.old, e.new, e.text) for e in events] == [
        ("open", "operator", None, None, "it", None),
        ("take", "w1", "holder", None, "w1", None),
        ("comment", "operator", None, None, None, "toner is empty"),
        ("close", "w1", "status", None, "closed", "replaced toner"),
        ("reopen", "operator", "status", "closed", "in progress", "still jams"),
    ]
    assert [e.at for e in events] == [start + timedelta(minutes=5 * i) for i in range(5)]

    action_of = {e.id: e.action for e in events}
    got = {(action_of[r.event_id or 0], logins[r.recipient_id or 0]) for r in rows}
    assert got == {
        ("open", "head_it"),
        ("open", "w1"),
        ("open", "w2"),
        ("open", "multi"),  # it is one of multi's extra departments
        ("take", "operator"),
        ("take", "head_it"),
        ("comment", "w1"),
        ("comment", "head_it"),
        ("close", "operator"),
        ("close", "head_it"),
        ("reopen", "w1"),
        ("reopen", "head_it"),
    }
    assert len(rows) == len(got)
    assert all(r.ticket_id == 1 and r.channel == "xmpp" for r in rows)
    assert {(r.status, r.attempts) for r in rows} == {(OutboxStatus.SENT.value, 1)}
    assert all(r.key == f"xmpp:{r.event_id}:{r.recipient_id}" for r in rows)
    assert len(bot.inbox("head_it")) == 5


async def test_visible_ticket_for_update_locks_the_row(bot: DialogBot) -> None:
    assert await opened(bot, "operator", "new printer @it") == 1
    async with bot.sessions() as session, session.begin():
        w1, hr1 = await actor(session, "w1"), await actor(session, "hr1")
        ticket = await queries.visible_ticket(session, w1, 1, for_update=True)
        assert ticket is not None and ticket.id == 1
        assert await queries.visible_ticket(session, hr1, 1, for_update=True) is None
        assert await queries.visible_ticket(session, w1, 99, for_update=True) is None
        if bot.engine.dialect.name == "postgresql":
            async with bot.sessions() as other, other.begin():
                locked = select(Ticket).where(Ticket.id == 1).with_for_update(nowait=True)
                with pytest.raises(DBAPIError, match="lock"):
                    await other.scalar(locked)


# --- the outbox -------------------------------------------------------------------------


def _message(key: str, channel: str, status: OutboxStatus, at: datetime) -> Outbox:
    return Outbox(
        key=key,
        channel=channel,
        address=f"{key}@example.test",
        text=key,
        status=status.value,
        next_attempt_at=at,
    )


async def _keys(session: AsyncSession, now: datetime, limit: int = outbox.BATCH) -> list[str]:
    return [m.key for m in await outbox.due_messages(session, "xmpp", now, limit)]


async def test_outbox_due_messages(migrated: AsyncEngine) -> None:
    sessions = make_sessions(migrated)
    pending = OutboxStatus.PENDING
    async with sessions() as session, session.begin():
        session.add_all(
            [
                _message("a", "xmpp", pending, NOW - timedelta(hours=1)),
                _message("b", "xmpp", pending, NOW + timedelta(minutes=1)),  # not yet
                _message("c", "xmpp", pending, NOW - timedelta(hours=2)),  # later id, earlier time
                _message("d", "sms", pending, NOW - timedelta(hours=1)),  # another channel
                _message("e", "xmpp", OutboxStatus.SENT, NOW - timedelta(hours=1)),
                _message("f", "xmpp", OutboxStatus.DEAD, NOW - timedelta(hours=1)),
                _message("g", "xmpp", pending, NOW),  # due exactly now
            ]
        )
    async with sessions() as session:
        assert await _keys(session, NOW) == ["a", "c", "g"]
        assert await _keys(session, NOW, limit=2) == ["a", "c"]
        assert await _keys(session, NOW + timedelta(minutes=1)) == ["a", "b", "c", "g"]
        assert [m.key for m in await outbox.due_messages(session, "sms", NOW)] == ["d"]
        assert await outbox.pending_count(session) == 5


async def test_outbox_mark_sent_moves_only_pending_rows(migrated: AsyncEngine) -> None:
    sessions = make_sessions(migrated)
    async with sessions() as session, session.begin():
        session.add_all(
            [
                _message(k, "xmpp", s, NOW)
                for k, s in (
                    ("p", OutboxStatus.PENDING),
                    ("s", OutboxStatus.SENT),
                    ("d", OutboxStatus.DEAD),
                )
            ]
        )
    later = NOW + timedelta(minutes=3)
    async with sessions() as session, session.begin():
        for message in await session.scalars(select(Outbox)):
            await outbox.mark_sent(session, [message.id], later)
    async with sessions() as session:
        rows = await session.execute(
            select(Outbox.key, Outbox.status, Outbox.attempts, Outbox.sent_at)
        )
        assert {tuple(row) for row in rows} == {
            ("p", OutboxStatus.SENT.value, 1, later),
            ("s", OutboxStatus.SENT.value, 0, None),
            ("d", OutboxStatus.DEAD.value, 0, None),
        }
        assert await _keys(session, later) == []


async def test_outbox_mark_failed_backs_off_then_gives_up(migrated: AsyncEngine) -> None:
    sessions = make_sessions(migrated)
    async with sessions() as session, session.begin():
        session.add(_message("m", "xmpp", OutboxStatus.PENDING, NOW))
    delays: list[timedelta] = []
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        async with sessions() as session, session.begin():
            message = await session.scalar(select(Outbox).where(Outbox.key == "m"))
            assert message is not None and message.status == OutboxStatus.PENDING.value
            await outbox.mark_failed(session, message, "E" * 300, NOW)
        async with sessions() as session:
            message = await session.scalar(select(Outbox).where(Outbox.key == "m"))
            assert message is not None
            assert (message.attempts, message.last_error) == (attempt, "E" * 255)
            delay = message.next_attempt_at - NOW
            base = min(3600.0, 5.0 * 2 ** (attempt - 1))
            assert base * 0.8 - 0.001 <= delay.total_seconds() <= base * 1.2 + 0.001
            assert not delays or base == 3600.0 or delay > delays[-1]  # doubles to the cap
            delays.append(delay)
            dead = attempt == outbox.MAX_ATTEMPTS
            assert message.status == (OutboxStatus.DEAD if dead else OutboxStatus.PENDING).value
            due = await _keys(session, NOW + timedelta(days=1))
            assert due == ([] if dead else ["m"])


# --- indexes ----------------------------------------------------------------------------


async def _sqlite_plans(bot: DialogBot) -> dict[str, list[str]]:
    """EXPLAIN QUERY PLAN of the per-message queries, as the query functions issue them."""
    async with bot.sessions() as session:
        it = await queries.department_by_short(session, "it")
        assert it is not None
        people = [await actor(session, login) for login in ("w1", "head_it")]
        runs: dict[str, list[tuple[str, Any]]] = {}
        for person in people:
            with statements(bot.engine) as runs[f"open tickets of it for {person.login}"]:
                flt = queries.ListFilter(department_id=it.id)
                await queries.open_tickets(session, person, flt, 1)  # a full page: counted too
        with statements(bot.engine) as runs["outbox due"]:
            await outbox.due_messages(session, "xmpp", NOW)
        plans: dict[str, list[str]] = {}
        for name, ran in runs.items():
            for i, (sql, params) in enumerate(ran):
                conn = await session.connection()
                rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
                plans[f"{name} [{i}]"] = [row[-1] for row in rows]
        return plans


PG_INDEXES = {
    ("tickets", "ix_tickets_department_status"),
    ("tickets", "ix_tickets_target_staff_status"),
    ("tickets", "ix_tickets_holder_status"),
    ("tickets", "ix_tickets_due_report"),
    ("outbox", "ix_outbox_status_next"),
    ("staff", "ix_staff_home_department_id"),
    ("staff", "uq_staff_jid"),
    ("staff_departments", "ix_staff_departments_department_id"),
    ("ticket_events", "ix_ticket_events_ticket_id"),
}


async def test_per_message_queries_use_indexes(bot: DialogBot) -> None:
    await seed_tickets(bot)
    if bot.engine.dialect.name == "postgresql":
        async with bot.sessions() as session:
            rows = await session.execute(
                text("SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public'")
            )
            assert {tuple(row) for row in rows} >= PG_INDEXES
        return
    plans = await _sqlite_plans(bot)
    assert len(plans) == 5  # a page and a count per person, and the outbox
    for name, plan in plans.items():
        table = "outbox" if name.startswith("outbox") else "tickets"
        index = "ix_outbox_status_next" if table == "outbox" else "ix_tickets_department_status"
        lines = [line for line in plan if re.search(rf"\b{table}\b", line)]
        assert lines, (name, plan)
        assert all(re.search(rf"USING (COVERING )?INDEX {index}\b", line) for line in lines), (
            name,
            plan,
        )


# --- concurrency ------------------------------------------------------------------------


async def test_two_concurrent_takes_have_one_winner(bot: DialogBot) -> None:
    """PostgreSQL: the row lock of visible_ticket(for_update=True). SQLite has no row
    locks; there each transaction takes the write lock at BEGIN (storage/db.py)."""
    w1, w2 = await staff_id(bot, "w1"), await staff_id(bot, "w2")
    for round_ in range(5):
        n = await opened(bot, "operator", f"new race {round_} @it")
        replies = await asyncio.gather(
            bot.core.handle("w1@example.test/a", f"take #{n}"),
            bot.core.handle("w2@example.test/b", f"take #{n}"),
        )
        won = [r for r in replies if r == f"#{n} is yours now."]
        lost = [r for r in replies if r is not None and r.startswith(f"#{n} is held by @w")]
        assert (len(won), len(lost)) == (1, 1), replies
        winner = w1 if replies[0] == won[0] else w2
        async with bot.sessions() as session:
            ticket = await session.get(Ticket, n)
            takes = await session.scalars(
                select(TicketEvent.actor_id).where(
                    TicketEvent.ticket_id == n, TicketEvent.action == "take"
                )
            )
            assert ticket is not None and ticket.holder_id == winner
            assert list(takes) == [winner]
