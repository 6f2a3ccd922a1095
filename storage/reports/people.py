"""Workload per staff member, and the customers who call: top callers, per customer
department, repeat callers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.access import Actor, visible_to
from storage.models import Customer, Department, Kind, Staff, Ticket
from storage.reports.sql import (
    OPEN,
    Period,
    dialect_of,
    in_period,
    minutes_between,
    seen_by,
    whole_minutes,
)

# --- workload -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    login: str
    department: str  # their home department's short name
    open: int  # open tickets they hold or are the target of
    in_progress: int  # of those, held by them
    closed: int  # tickets closed in the period while they held them
    close_median: int | None  # minutes from creation to close of those


def _open_work(actor: Actor) -> Select[*tuple[Any, ...]]:
    """Per person: open tickets they hold or are the target of, and of those held. One
    reading of the open tickets, each paired with a row for its holder and one for its
    target person (unless the same)."""
    one, zero = literal(1, Integer), literal(0, Integer)
    roles = union_all(select(one.label("held")), select(zero)).subquery("roles")
    person = case((roles.c.held == 1, Ticket.holder_id), else_=Ticket.target_staff_id)
    work = (
        select(person.label("staff_id"), roles.c.held)
        .join(roles, true())
        .where(
            Ticket.kind == Kind.TICKET.value,
            Ticket.status.in_(OPEN),
            visible_to(actor),
            person.is_not(None),
            or_(
                roles.c.held == 1,
                Ticket.holder_id.is_(None),
                Ticket.holder_id != Ticket.target_staff_id,
            ),
        )
        .subquery()
    )
    return select(
        work.c.staff_id, func.count(), func.sum(work.c.held), zero, cast(null(), Integer)
    ).group_by(work.c.staff_id)


def _closed_work(dialect: str, actor: Actor, period: Period) -> Select[*tuple[Any, ...]]:
    """Per person: tickets closed in the period while they held them, and the median
    minutes from creation to close, ranked per person (a person's times rarely repeat to
    the minute: a histogram as in time_to_take_and_close would not shrink them)."""
    minutes = whole_minutes(dialect, Ticket.closed_at, Ticket.created_at)
    done = (
        select(
            Ticket.holder_id.label("staff_id"),
            minutes.label("mins"),
            func.row_number().over(partition_by=Ticket.holder_id, order_by=minutes).label("rank"),
            func.count().over(partition_by=Ticket.holder_id).label("n"),
        )
        .where(
            Ticket.kind == Kind.TICKET.value,
            seen_by(dialect, actor),
            in_period(Ticket.closed_at, period),
            Ticket.holder_id.is_not(None),
        )
        .subquery()
    )
    middle = (done.c.n * 50 + 99) // 100  # nearest rank: ceil(n / 2)
    zero = literal(0, Integer)
    median = func.max(case((done.c.rank == middle, done.c.mins)))
    return select(done.c.staff_id, zero, zero, func.count(), median).group_by(done.c.staff_id)


async def workload(session: AsyncSession, actor: Actor, period: Period) -> list[Workload]:
    """Per staff member, among the tickets this person may see (calls are not work)."""
    both = union_all(_open_work(actor), _closed_work(dialect_of(session), actor, period)).subquery()
    staff_id, n_open, n_held, n_closed, median = both.c
    query = (
        select(
            Staff.login,
            Department.short,
            func.sum(n_open),
            func.sum(n_held),
            func.sum(n_closed),
            func.max(median),
        )
        .select_from(both)
        .join(Staff, Staff.id == staff_id)
        .join(Department, Department.id == Staff.home_department_id)
        .group_by(staff_id, Staff.login, Department.short)
        .order_by(Staff.login)
    )
    return [
        Workload(login, dept, int(a), int(b), int(c), m)
        for login, dept, a, b, c, m in await session.execute(query)
    ]


# --- customers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TopCaller:
    customer_id: int
    name: str
    department: str | None
    calls: int
    tickets: int
    last_contact: datetime  # naive UTC


@dataclass(frozen=True)
class CustomerDepartment:
    department: str | None  # None: customers with no department
    customers: int
    calls: int
    tickets: int


@dataclass(frozen=True)
class RepeatCaller:
    customer_id: int
    name: str
    department: str | None
    contacts: int  # calls and tickets in the period
    repeats: int  # contacts within `within` of their previous one
    last_contact: datetime  # naive UTC


@dataclass(frozen=True)
class RepeatCallers:
    count: int  # all of them, the list being cut at the limit
    customers: list[RepeatCaller]


def _contacts(dialect: str, actor: Actor, period: Period) -> tuple[ColumnElement[bool], ...]:
    return (
        seen_by(dialect, actor),
        in_period(Ticket.created_at, period),
        Ticket.customer_id.is_not(None),
    )


def _kind_counts() -> tuple[Any, Any]:
    return (
        func.count().filter(Ticket.kind == Kind.CALL.value),
        func.count().filter(Ticket.kind == Kind.TICKET.value),
    )


async def top_callers(
    session: AsyncSession, actor: Actor, period: Period, limit: int = 20
) -> list[TopCaller]:
    """Customers with the most calls and tickets in the period, the latest first on a tie."""
    calls, tickets = _kind_counts()
    per_customer = (
        select(
            Ticket.customer_id,
            calls.label("calls"),
            tickets.label("tickets"),
            func.max(Ticket.created_at).label("last"),
        )
        .where(*_contacts(dialect_of(session), actor, period))
        .group_by(Ticket.customer_id)
        .subquery()
    )
    c = per_customer.c
    query = (
        select(Customer.id, Customer.full_name, Customer.department, c.calls, c.tickets, c.last)
        .join(Customer, Customer.id == c.customer_id)
        .order_by((c.calls + c.tickets).desc(), c.last.desc(), Customer.id)
        .limit(limit)
    )
    return [TopCaller(*row) for row in await session.execute(query)]


async def per_customer_department(
    session: AsyncSession, actor: Actor, period: Period
) -> list[CustomerDepartment]:
    """Calls and tickets per customer department in the period, the busiest first."""
    calls, tickets = _kind_counts()
    total = (calls + tickets).label("total")
    query = (
        select(
            Customer.department, func.count(Ticket.customer_id.distinct()), calls, tickets, total
        )
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(*_contacts(dialect_of(session), actor, period))
        .group_by(Customer.department)
        .order_by(total.desc(), Customer.department.nulls_last())
    )
    return [CustomerDepartment(*row[:-1]) for row in await session.execute(query)]


async def repeat_callers(
    session: AsyncSession,
    actor: Actor,
    period: Period,
    *,
    within: timedelta = timedelta(days=7),
    limit: int = 50,
) -> RepeatCallers:
    """Customers who came back within `within` of a previous contact in the period
    (calls and tickets alike), the most repeats first."""
    previous = func.lag(Ticket.created_at).over(
        partition_by=Ticket.customer_id, order_by=(Ticket.created_at, Ticket.id)
    )
    contacts = (
        select(Ticket.customer_id, Ticket.created_at, previous.label("previous"))
        .where(*_contacts(dialect_of(session), actor, period))
        .subquery()
    )
    gap = minutes_between(dialect_of(session), contacts.c.created_at, contacts.c.previous)
    repeats = func.count().filter(gap <= within.total_seconds() / 60)
    per_customer = (
        select(
            contacts.c.customer_id,
            func.count().label("contacts"),
            repeats.label("repeats"),
            func.max(contacts.c.created_at).label("last"),
        )
        .group_by(contacts.c.customer_id)
        .having(repeats > 0)
        .subquery()
    )
    c = per_customer.c
    query = (
        select(
            Customer.id,
            Customer.full_name,
            Customer.department,
            c.contacts,
            c.repeats,
            c.last,
            func.count().over(),
        )
        .join(Customer, Customer.id == c.customer_id)
        .order_by(c.repeats.desc(), c.contacts.desc(), c.last.desc(), Customer.id)
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    return RepeatCallers(rows[0][-1] if rows else 0, [RepeatCaller(*row[:-1]) for row in rows])
