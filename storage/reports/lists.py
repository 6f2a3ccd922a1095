"""Lists of tickets and calls, a page at a time or streamed for an export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.access import Actor
from storage.models import Customer, Department, Kind, Staff, Ticket
from storage.reports.sql import (
    SNIPPET,
    STREAM_BATCH,
    Period,
    dialect_of,
    in_period,
    seen_by,
)

# --- lists --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketRow:
    id: int
    kind: str
    status: str
    priority: int
    department: str
    target: str | None  # the target person's login
    holder: str | None
    customer: str | None
    created_at: datetime  # naive UTC
    closed_at: datetime | None
    due: date | None
    text: str  # the first SNIPPET characters in a list, all of it in the export


@dataclass(frozen=True)
class TicketPage:
    rows: list[TicketRow]
    total: int


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _text_matches(dialect: str, text: str) -> ColumnElement[bool]:
    """The ticket text contains `text`, case aside. PostgreSQL's ILIKE folds every
    alphabet (per the server's LC_CTYPE); SQLite's LIKE folds only ASCII, so there the
    common casings of the words are tried: as typed, lower, UPPER and Capitalized."""
    if dialect == "postgresql":
        return Ticket.text.ilike(_like(text), escape="\\")
    casings = dict.fromkeys((text, text.lower(), text.upper(), text.capitalize()))
    return or_(*(Ticket.text.like(_like(c), escape="\\") for c in casings))


@dataclass(frozen=True)
class TicketFilter:
    """What a ticket list shows: `department` by short name, `period` of creation."""

    department: str | None = None
    status: str | None = None
    priority: int | None = None
    kind: str | None = None
    period: Period | None = None
    text: str | None = None

    def conditions(self, dialect: str) -> list[ColumnElement[bool]]:
        """The conditions on Ticket, visibility aside."""
        found: list[ColumnElement[bool]] = []
        if self.department is not None:
            wanted = select(Department.id).where(Department.short == self.department.lower())
            found.append(Ticket.department_id == wanted.scalar_subquery())
        if self.status is not None:
            found.append(Ticket.status == self.status)
        if self.priority is not None:
            found.append(Ticket.priority == self.priority)
        if self.kind is not None:
            found.append(Ticket.kind == self.kind)
        if self.period is not None:
            found.append(in_period(Ticket.created_at, self.period))
        if self.text:
            found.append(_text_matches(dialect, self.text))
        return found


def _ticket_rows(
    conditions: list[ColumnElement[bool]], *, snippet: bool
) -> Select[*tuple[Any, ...]]:
    target, holder = aliased(Staff), aliased(Staff)
    return (
        select(
            Ticket.id,
            Ticket.kind,
            Ticket.status,
            Ticket.priority,
            Department.short,
            target.login,
            holder.login,
            Customer.full_name,
            Ticket.created_at,
            Ticket.closed_at,
            Ticket.due,
            func.substr(Ticket.text, 1, SNIPPET) if snippet else Ticket.text,
        )
        .join(Department, Department.id == Ticket.department_id)
        .outerjoin(target, target.id == Ticket.target_staff_id)
        .outerjoin(holder, holder.id == Ticket.holder_id)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .where(*conditions)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
    )


async def _page_total(
    session: AsyncSession,
    conditions: list[ColumnElement[bool]],
    shown: int,
    limit: int,
    offset: int,
) -> int:
    """The count of all matching rows; known without a second statement when the page
    is not full and not past the end."""
    if (shown and shown < limit) or (not shown and offset == 0):
        return offset + shown
    total = await session.scalar(select(func.count()).select_from(Ticket).where(*conditions))
    return total or 0


async def ticket_list(
    session: AsyncSession,
    actor: Actor,
    *,
    department: str | None = None,
    status: str | None = None,
    priority: int | None = None,
    kind: str | None = None,
    period: Period | None = None,
    text: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> TicketPage:
    """A page of tickets and calls, newest first (`period`: created in it; `department`:
    its short name), and how many match in all. One statement, two for a full page."""
    dialect = dialect_of(session)
    wanted = TicketFilter(department, status, priority, kind, period, text).conditions(dialect)
    # the page walks the created_at index newest first; the count reads a report index
    # from end to end (narrow, and holding the access rule's columns), which beats
    # following the rule's OR of department, target and creator to every row it names
    query = _ticket_rows([seen_by(dialect, actor), *wanted], snippet=True)
    rows = [TicketRow(*row) for row in await session.execute(query.limit(limit).offset(offset))]
    counted = [seen_by(dialect, actor), *wanted]
    return TicketPage(rows, await _page_total(session, counted, len(rows), limit, offset))


async def ticket_rows_stream(
    session: AsyncSession,
    actor: Actor,
    *,
    department: str | None = None,
    status: str | None = None,
    priority: int | None = None,
    kind: str | None = None,
    period: Period | None = None,
    text: str | None = None,
) -> AsyncIterator[TicketRow]:
    """Every matching row with its whole text, for the CSV export: read through a
    server-side cursor STREAM_BATCH rows at a time, so memory stays flat."""
    dialect = dialect_of(session)
    wanted = TicketFilter(department, status, priority, kind, period, text).conditions(dialect)
    query = _ticket_rows([seen_by(dialect, actor), *wanted], snippet=False)
    query = query.execution_options(yield_per=STREAM_BATCH)
    result = await session.stream(query)
    try:
        async for row in result:
            yield TicketRow(*row)
    finally:
        await result.close()


@dataclass(frozen=True)
class CallRow:
    id: int
    created_at: datetime  # naive UTC
    customer: str | None
    customer_department: str | None
    recorded_by: str  # the login of who recorded it
    department: str
    text: str  # the first SNIPPET characters on a page, all of it in an export


@dataclass(frozen=True)
class CallPage:
    rows: list[CallRow]
    total: int


def _call_rows(
    session: AsyncSession, actor: Actor, period: Period, *, snippet: bool
) -> tuple[Select[*tuple[Any, ...]], list[ColumnElement[bool]]]:
    """The calls recorded in the period, newest first, and the conditions that pick them."""
    conditions = [
        Ticket.kind == Kind.CALL.value,
        seen_by(dialect_of(session), actor),
        in_period(Ticket.created_at, period),
    ]
    recorder = aliased(Staff)  # apart from the staff table of the access rule's subquery
    query = (
        select(
            Ticket.id,
            Ticket.created_at,
            Customer.full_name,
            Customer.department,
            recorder.login,
            Department.short,
            func.substr(Ticket.text, 1, SNIPPET) if snippet else Ticket.text,
        )
        .join(recorder, recorder.id == Ticket.creator_id)
        .join(Department, Department.id == Ticket.department_id)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .where(*conditions)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
    )
    return query, conditions


async def calls(
    session: AsyncSession, actor: Actor, period: Period, limit: int = 50, offset: int = 0
) -> CallPage:
    """The calls recorded in the period, newest first, and how many in all."""
    query, conditions = _call_rows(session, actor, period, snippet=True)
    rows = [CallRow(*row) for row in await session.execute(query.limit(limit).offset(offset))]
    return CallPage(rows, await _page_total(session, conditions, len(rows), limit, offset))


async def calls_stream(
    session: AsyncSession, actor: Actor, period: Period
) -> AsyncIterator[CallRow]:
    """Every call of the period with its whole text, for the CSV export, through a
    server-side cursor as ticket_rows_stream."""
    query, _ = _call_rows(session, actor, period, snippet=False)
    result = await session.stream(query.execution_options(yield_per=STREAM_BATCH))
    try:
        async for row in result:
            yield CallRow(*row)
    finally:
        await result.close()
