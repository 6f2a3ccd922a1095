"""Read queries; each takes the session as its first argument."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.access import Actor, visible_to
from storage.models import (
    Customer,
    Department,
    Kind,
    Role,
    Staff,
    Status,
    Ticket,
    TicketEvent,
    staff_departments,
)


async def department_ids_of(session: AsyncSession, staff: Staff) -> frozenset[int]:
    """Home department plus the extra ones."""
    rows = await session.scalars(
        select(staff_departments.c.department_id).where(staff_departments.c.staff_id == staff.id)
    )
    return frozenset([staff.home_department_id, *rows])


_ACTOR_COLUMNS = (
    Staff.id, Staff.login, Staff.jid, Staff.role, Staff.home_department_id, Staff.language,
    staff_departments.c.department_id,
)  # fmt: skip


async def actor_for_jid(session: AsyncSession, jid: str, default_language: str) -> Actor | None:
    """The active staff member with this bare JID, or None for a stranger.

    One statement, as it runs for every message: a row per extra department."""
    rows = (
        await session.execute(
            select(*_ACTOR_COLUMNS)
            .outerjoin(staff_departments, staff_departments.c.staff_id == Staff.id)
            .where(Staff.jid == jid.lower(), Staff.active)
        )
    ).all()
    if not rows:
        return None
    staff_id, login, staff_jid, role, home, language, _ = rows[0]
    extras = {row[-1] for row in rows if row[-1] is not None}
    return Actor(
        id=staff_id, login=login, jid=staff_jid, role=Role(role), home_department_id=home,
        department_ids=frozenset({home, *extras}), language=language or default_language,
    )  # fmt: skip


async def visible_ticket(
    session: AsyncSession, actor: Actor, number: int, *, for_update: bool = False
) -> Ticket | None:
    """The ticket if this person may see it; None both when it is hidden and when missing.

    With `for_update` the row stays locked (PostgreSQL) until the change commits, so two
    people taking the same ticket at once cannot both win."""
    query = select(Ticket).where(Ticket.id == number, visible_to(actor))
    return await session.scalar(query.with_for_update() if for_update else query)


async def department_by_short(session: AsyncSession, short: str) -> Department | None:
    return await session.scalar(select(Department).where(Department.short == short.lower()))


async def staff_by_login(session: AsyncSession, login: str) -> Staff | None:
    return await session.scalar(select(Staff).where(Staff.login == login.lower()))


async def names_of_staff(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Staff.id, Staff.login).where(Staff.id.in_(ids)))
    return {i: login for i, login in rows}


async def names_of_departments(session: AsyncSession) -> dict[int, str]:
    rows = await session.execute(select(Department.id, Department.short))
    return {i: short for i, short in rows}


async def customer_name(session: AsyncSession, customer_id: int | None) -> str | None:
    if customer_id is None:
        return None
    return await session.scalar(select(Customer.full_name).where(Customer.id == customer_id))


async def history(session: AsyncSession, ticket_id: int) -> Sequence[TicketEvent]:
    rows = await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
    )
    return rows.all()


@dataclass(frozen=True)
class ListFilter:
    mine: bool = False
    only_new: bool = False
    department_id: int | None = None
    staff_id: int | None = None
    priority: int | None = None


def _open_visible(actor: Actor) -> list[ColumnElement[bool]]:
    return [Ticket.status != Status.CLOSED.value, visible_to(actor)]


def _list_conditions(actor: Actor, flt: ListFilter) -> list[ColumnElement[bool]]:
    conds = _open_visible(actor)
    if flt.mine:
        conds.append(or_(Ticket.holder_id == actor.id, Ticket.target_staff_id == actor.id))
    if flt.only_new:
        conds.append(Ticket.status == Status.NEW.value)
    if flt.department_id is not None:
        conds.append(Ticket.department_id == flt.department_id)
    if flt.staff_id is not None:
        conds.append(or_(Ticket.target_staff_id == flt.staff_id, Ticket.holder_id == flt.staff_id))
    if flt.priority is not None:
        conds.append(Ticket.priority == flt.priority)
    return conds


async def open_tickets(
    session: AsyncSession, actor: Actor, flt: ListFilter, limit: int
) -> tuple[Sequence[Ticket], int]:
    """Open tickets this person may see, newest first, and the total count."""
    conds = _list_conditions(actor, flt)
    query = select(Ticket).where(*conds).order_by(Ticket.id.desc()).limit(limit)
    rows = (await session.scalars(query)).all()
    if len(rows) < limit:  # that is all of them: no need to count
        return rows, len(rows)
    total = await session.scalar(select(func.count()).select_from(Ticket).where(*conds))
    return rows, total or 0


async def agenda(
    session: AsyncSession, actor: Actor, staff_id: int, today: date
) -> Sequence[Ticket]:
    """Open tickets of that person (held or targeted) due today or overdue, by priority."""
    query = (
        select(Ticket)
        .where(
            *_open_visible(actor),
            or_(Ticket.holder_id == staff_id, Ticket.target_staff_id == staff_id),
            Ticket.due.is_not(None),
            Ticket.due <= today,
        )
        .order_by(Ticket.priority.desc(), Ticket.due, Ticket.id)
    )
    return (await session.scalars(query)).all()


@dataclass(frozen=True)
class DepartmentStats:
    short: str
    open: int
    new_today: int
    closed_today: int
    overdue: int


async def stats(
    session: AsyncSession, actor: Actor, day_start: datetime, today: date
) -> list[DepartmentStats]:
    """Per department among the tickets this person may see."""
    is_open = Ticket.status != Status.CLOSED.value
    counts = (
        select(
            Department.short,
            func.count().filter(is_open),
            func.count().filter(Ticket.created_at >= day_start),
            func.count().filter(and_(Ticket.closed_at.is_not(None), Ticket.closed_at >= day_start)),
            func.count().filter(and_(is_open, Ticket.due < today)),
        )
        .join(Department, Department.id == Ticket.department_id)
        .where(visible_to(actor), Ticket.kind == Kind.TICKET.value)  # calls are not work
        .group_by(Department.short)
        .order_by(Department.short)
    )
    rows = await session.execute(counts)
    return [DepartmentStats(*row) for row in rows]


async def staff_of_departments(
    session: AsyncSession, department_ids: set[int], roles: set[Role]
) -> Sequence[Staff]:
    """Active staff with one of these roles whose departments include any of these."""
    extra = select(staff_departments.c.staff_id).where(
        staff_departments.c.department_id.in_(department_ids)
    )
    rows = await session.scalars(
        select(Staff).where(
            Staff.active,
            Staff.role.in_([r.value for r in roles]),
            or_(Staff.home_department_id.in_(department_ids), Staff.id.in_(extra)),
        )
    )
    return rows.all()


async def staff_by_ids(session: AsyncSession, ids: set[int]) -> Sequence[Staff]:
    if not ids:
        return []
    return (await session.scalars(select(Staff).where(Staff.id.in_(ids), Staff.active))).all()


# --- the scheduled jobs (commands/jobs.py): for everyone at once, a few statements each ---


async def due_for_staff(session: AsyncSession, today: date) -> Sequence[Ticket]:
    """Open tickets due today or overdue that someone holds or is the target of, in the
    order of `agenda`; each person's agenda is the part they hold or are the target of."""
    query = (
        select(Ticket)
        .where(
            Ticket.status != Status.CLOSED.value,
            or_(Ticket.holder_id.is_not(None), Ticket.target_staff_id.is_not(None)),
            Ticket.due.is_not(None),
            Ticket.due <= today,
        )
        .order_by(Ticket.priority.desc(), Ticket.due, Ticket.id)
    )
    return (await session.scalars(query)).all()


async def not_taken(session: AsyncSession, created_by: dict[int, datetime]) -> Sequence[Ticket]:
    """New tickets nobody holds, created at or before the moment given for their
    priority (`created_by`: priority -> moment); a priority not given never waits too long."""
    if not created_by:
        return []
    waited = or_(
        *(and_(Ticket.priority == p, Ticket.created_at <= at) for p, at in created_by.items())
    )
    query = select(Ticket).where(
        Ticket.kind == Kind.TICKET.value,
        Ticket.status == Status.NEW.value,
        Ticket.holder_id.is_(None),
        waited,
    )
    return (await session.scalars(query.order_by(Ticket.id))).all()


async def overdue_tickets(session: AsyncSession, today: date) -> Sequence[Ticket]:
    """Open tickets whose due date has passed."""
    query = select(Ticket).where(
        Ticket.kind == Kind.TICKET.value,
        Ticket.status != Status.CLOSED.value,
        Ticket.due < today,
    )
    return (await session.scalars(query.order_by(Ticket.id))).all()


async def heads_of_departments(
    session: AsyncSession, department_ids: set[int]
) -> dict[int, list[Staff]]:
    """The active coordinators of each of these departments (home or extra), by id."""
    if not department_ids:
        return {}
    heads = await staff_of_departments(session, department_ids, {Role.COORDINATOR})
    extras = await session.execute(
        select(staff_departments.c.staff_id, staff_departments.c.department_id).where(
            staff_departments.c.department_id.in_(department_ids),
            staff_departments.c.staff_id.in_([h.id for h in heads]),
        )
    )
    by_id = {h.id: h for h in heads}
    pairs = {(h.home_department_id, h.id) for h in heads} | {(d, s) for s, d in extras}
    found: dict[int, list[Staff]] = {d: [] for d in department_ids}
    for department_id, staff_id in sorted(pairs):
        if department_id in found:
            found[department_id].append(by_id[staff_id])
    return found


async def active_admins(session: AsyncSession) -> Sequence[Staff]:
    query = select(Staff).where(Staff.active, Staff.role == Role.ADMIN.value)
    return (await session.scalars(query.order_by(Staff.id))).all()


async def digest_readers(session: AsyncSession) -> Sequence[Staff]:
    """Active heads and admins who chose the daily digest and have an e-mail address."""
    query = select(Staff).where(
        Staff.active,
        Staff.role.in_([Role.COORDINATOR.value, Role.ADMIN.value]),
        Staff.email_mode == "digest",
        Staff.email.is_not(None),
        Staff.email != "",
    )
    return (await session.scalars(query.order_by(Staff.id))).all()


async def needing_attention(
    session: AsyncSession, actor: Actor, today: date, priority_from: int
) -> Sequence[Ticket]:
    """Open tickets this person may see that are overdue, or that nobody holds and have
    at least this priority; by priority, then number."""
    query = select(Ticket).where(
        *_open_visible(actor),
        Ticket.kind == Kind.TICKET.value,
        or_(Ticket.due < today, and_(Ticket.holder_id.is_(None), Ticket.priority >= priority_from)),
    )
    return (await session.scalars(query.order_by(Ticket.priority.desc(), Ticket.id))).all()
