"""The dashboard's figures: open tickets now, per day, time to take and to close,
overdue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.access import Actor, visible_to
from storage.models import Department, Kind, Staff, Ticket
from storage.reports.sql import (
    CLOSE,
    OPEN,
    SNIPPET,
    TAKE,
    Period,
    day_index,
    dialect_of,
    in_period,
    percentile,
    running_counts,
    seen_by,
    value_count,
    whole_minutes,
)

# --- open tickets now ---------------------------------------------------------------------


@dataclass(frozen=True)
class OpenCount:
    group: str | int  # a department's short name, a status, or a priority 1-4
    count: int


@dataclass(frozen=True)
class OpenNow:
    """Open tickets now, three ways."""

    department: list[OpenCount]  # the departments that have any, by name
    status: list[OpenCount]  # every open status, zeros included
    priority: list[OpenCount]  # every priority from urgent down, zeros included

    @property
    def total(self) -> int:
        return sum(c.count for c in self.status)


async def open_now(session: AsyncSession, actor: Actor) -> OpenNow:
    """Open tickets by department, status and priority in one pass over the open ones
    (read from the status index alone): counted per department, status and priority
    together, and those few rows summed three ways in the same statement."""
    counts = (
        select(Ticket.department_id, Ticket.status, Ticket.priority, func.count().label("n"))
        .where(Ticket.kind == Kind.TICKET.value, Ticket.status.in_(OPEN), visible_to(actor))
        # in the order of ix_tickets_open_report: counted as read, without a sort
        .group_by(Ticket.status, Ticket.department_id, Ticket.priority)
        .cte("open_counts")
        .prefix_with("MATERIALIZED")
    )
    text, number = cast(null(), String), cast(null(), Integer)
    by_department = (
        select(Department.short, text, number, func.sum(counts.c.n))
        .join(Department, Department.id == counts.c.department_id)
        .group_by(Department.short)
    )
    by_status = select(text, counts.c.status, number, func.sum(counts.c.n)).group_by(
        counts.c.status
    )
    by_priority = select(text, text, counts.c.priority, func.sum(counts.c.n)).group_by(
        counts.c.priority
    )
    found: dict[str, dict[Any, int]] = {"department": {}, "status": {}, "priority": {}}
    for short, status, priority, n in await session.execute(
        union_all(by_department, by_status, by_priority)
    ):
        if short is not None:
            found["department"][short] = int(n)
        elif status is not None:
            found["status"][status] = int(n)
        else:
            found["priority"][priority] = int(n)

    def listed(by: str, keys: Sequence[Any]) -> list[OpenCount]:
        return [OpenCount(k, found[by].get(k, 0)) for k in keys]

    return OpenNow(
        listed("department", sorted(found["department"])),
        listed("status", OPEN),
        listed("priority", [4, 3, 2, 1]),
    )


async def open_by(
    session: AsyncSession, actor: Actor, *, by: Literal["department", "status", "priority"]
) -> list[OpenCount]:
    """Open tickets now: by department (those with any), or by status or priority
    (every value, zeros included; priority from urgent down)."""
    if by not in ("department", "status", "priority"):
        raise ValueError(f"open tickets by {by!r}?")
    counts: list[OpenCount] = getattr(await open_now(session, actor), by)
    return counts


# --- per day ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayCounts:
    day: date
    created: int  # tickets
    closed: int  # tickets
    calls: int


@dataclass(frozen=True)
class DayBacklog:
    day: date
    open: int  # tickets open at the end of the local day


def _daily(dialect: str, actor: Actor, period: Period) -> Subquery:
    """A row per day of the period, zeros included: tickets created, closed, calls."""
    is_ticket = Ticket.kind == Kind.TICKET.value
    one, zero = literal(1, Integer), literal(0, Integer)
    created = select(
        day_index(dialect, period, Ticket.created_at).label("day"),
        case((is_ticket, one), else_=zero).label("created"),
        zero.label("closed"),
        case((is_ticket, zero), else_=one).label("calls"),
    ).where(seen_by(dialect, actor), in_period(Ticket.created_at, period))
    closed = select(day_index(dialect, period, Ticket.closed_at), zero, one, zero).where(
        seen_by(dialect, actor), is_ticket, in_period(Ticket.closed_at, period)
    )
    events = union_all(created, closed).subquery()
    counts = (
        select(
            events.c.day,
            func.sum(events.c.created).label("created"),
            func.sum(events.c.closed).label("closed"),
            func.sum(events.c.calls).label("calls"),
        )
        .group_by(events.c.day)
        .subquery()
    )
    days = select(literal(0, Integer).label("day")).cte("days", recursive=True)
    days = days.union_all(select(days.c.day + 1).where(days.c.day < period.days - 1))
    return (
        select(
            days.c.day,
            func.coalesce(counts.c.created, 0).label("created"),
            func.coalesce(counts.c.closed, 0).label("closed"),
            func.coalesce(counts.c.calls, 0).label("calls"),
        )
        .select_from(days.outerjoin(counts, counts.c.day == days.c.day))
        .subquery()
    )


@dataclass(frozen=True)
class Day:
    day: date
    created: int  # tickets
    closed: int  # tickets
    calls: int
    backlog: int  # tickets open at the end of the local day


def _open_at(dialect: str, actor: Actor, moment: datetime, open_now: int | None) -> Any:
    """Tickets open at `moment` (a period's end, usually now or near): open now, less
    those created since, plus those closed since; each term an index range (the open
    ones by status, which a close and a reopen change together with closed_at).
    `open_now`, when the caller has counted them already, replaces the first term."""

    def count(*where: ColumnElement[bool]) -> Any:
        tickets = select(func.count()).select_from(Ticket)
        return tickets.where(Ticket.kind == Kind.TICKET.value, *where).scalar_subquery()

    now = (
        count(visible_to(actor), Ticket.status.in_(OPEN))
        if open_now is None
        else literal(open_now, Integer)
    )
    return (
        now
        - count(seen_by(dialect, actor), Ticket.created_at >= moment)
        + count(seen_by(dialect, actor), Ticket.closed_at >= moment)
    )


async def per_day(
    session: AsyncSession, actor: Actor, period: Period, *, open_now: int | None = None
) -> list[Day]:
    """Per local day of the period: tickets created, tickets closed, calls, and the
    backlog, the tickets open at the end of the day: those open at the end of the
    period, less the running sum of created minus closed on the days after (a window
    over the per-day counts, so no ticket is read twice). A reopened ticket counts as
    open throughout (its earlier close is not kept on the row). `open_now` is the
    count of the open tickets this person sees (OpenNow.total), when the caller has
    it from the same transaction."""
    dialect = dialect_of(session)
    daily = _daily(dialect, actor, period)
    net = daily.c.created - daily.c.closed
    later = func.coalesce(func.sum(net).over(order_by=daily.c.day, rows=(1, None)), 0)
    _, until = period.utc_bounds()
    query = select(
        daily.c.day,
        daily.c.created,
        daily.c.closed,
        daily.c.calls,
        _open_at(dialect, actor, until, open_now) - later,
    ).order_by(daily.c.day)
    return [
        Day(period.day(d), int(a), int(b), int(c), int(n))
        for d, a, b, c, n in await session.execute(query)
    ]


async def created_closed_per_day(
    session: AsyncSession, actor: Actor, period: Period
) -> list[DayCounts]:
    """Per local day of the period: tickets created, tickets closed, calls."""
    return [
        DayCounts(d.day, d.created, d.closed, d.calls)
        for d in await per_day(session, actor, period)
    ]


async def backlog_per_day(session: AsyncSession, actor: Actor, period: Period) -> list[DayBacklog]:
    """Tickets open at the end of each local day (see per_day)."""
    return [DayBacklog(d.day, d.backlog) for d in await per_day(session, actor, period)]


# --- time to take and to close ------------------------------------------------------------


@dataclass(frozen=True)
class Durations:
    """Of the tickets created in the period; minutes, None where there is none."""

    group: str | int  # a department's short name or a priority
    tickets: int
    taken: int
    take_median: int | None
    take_p90: int | None
    closed: int
    close_median: int | None
    close_p90: int | None


@dataclass(frozen=True)
class DurationsBy:
    department: list[Durations]  # by department name
    priority: list[Durations]  # urgent first


_BY_DEPARTMENT, _BY_PRIORITY = 0, 1


async def durations(session: AsyncSession, actor: Actor, period: Period) -> DurationsBy:
    """Median and 90th percentile of whole minutes from creation to the (last) take and
    to the close, per department and per priority, in one statement: the period's
    tickets are read once and counted per department, priority and minute value; that
    histogram, summed per department and per priority, gives each percentile."""
    dialect = dialect_of(session)
    tickets = (
        select(
            Ticket.department_id.label("d"),
            Ticket.priority.label("p"),
            whole_minutes(dialect, Ticket.taken_at, Ticket.created_at).label("take"),
            whole_minutes(dialect, Ticket.closed_at, Ticket.created_at).label("close"),
        )
        .where(
            Ticket.kind == Kind.TICKET.value,
            seen_by(dialect, actor),
            in_period(Ticket.created_at, period),
        )
        .cte("created")
        .prefix_with("MATERIALIZED")
    )
    t = tickets.c
    n = func.count().label("c")
    fine = (
        union_all(
            select(t.d, t.p, literal(TAKE, Integer).label("m"), t.take.label("x"), n).group_by(
                t.d, t.p, t.take
            ),
            select(t.d, t.p, literal(CLOSE, Integer), t.close, n).group_by(t.d, t.p, t.close),
        )
        .cte("fine")
        .prefix_with("MATERIALIZED")
    )
    f = fine.c

    def summed(by: int, group: Any) -> Select[Any]:
        count = cast(func.sum(f.c), BigInteger).label("c")
        grouping = literal(by, Integer).label("by")
        return select(grouping, group.label("grp"), f.m, f.x, count).group_by(group, f.m, f.x)

    r = running_counts(union_all(summed(_BY_DEPARTMENT, f.d), summed(_BY_PRIORITY, f.p)).subquery())
    stats = (
        select(
            r.c.by,
            r.c.grp,
            func.max(r.c.total).label("tickets"),
            value_count(r, TAKE).label("taken"),
            percentile(r, TAKE, 50).label("take_median"),
            percentile(r, TAKE, 90).label("take_p90"),
            value_count(r, CLOSE).label("closed"),
            percentile(r, CLOSE, 50).label("close_median"),
            percentile(r, CLOSE, 90).label("close_p90"),
        )
        .group_by(r.c.by, r.c.grp)
        .subquery()
    )
    figures = [c for c in stats.c if c.name not in ("by", "grp")]
    # the department names are joined to the few result rows
    named = and_(stats.c.by == _BY_DEPARTMENT, Department.id == stats.c.grp)
    query = (
        select(stats.c.by, stats.c.grp, Department.short, *figures)
        .select_from(stats)
        .outerjoin(Department, named)
        .order_by(stats.c.by, Department.short, stats.c.grp.desc())
    )
    found = DurationsBy([], [])
    for by, grp, short, *rest in await session.execute(query):
        if by == _BY_DEPARTMENT:
            found.department.append(Durations(short, *rest))
        else:
            found.priority.append(Durations(grp, *rest))
    return found


async def time_to_take_and_close(
    session: AsyncSession, actor: Actor, period: Period, *, by: Literal["department", "priority"]
) -> list[Durations]:
    """Durations per department (by name) or priority (urgent first); see durations()."""
    if by not in ("department", "priority"):
        raise ValueError(f"durations by {by!r}?")
    found: list[Durations] = getattr(await durations(session, actor, period), by)
    return found


# --- overdue and workload -----------------------------------------------------------------


@dataclass(frozen=True)
class OverdueTicket:
    id: int
    priority: int
    department: str
    target: str | None  # the target person's login
    holder: str | None
    due: date
    text: str  # the first SNIPPET characters


@dataclass(frozen=True)
class Overdue:
    count: int  # all of them, the list being cut at the limit
    tickets: list[OverdueTicket]


async def overdue_now(
    session: AsyncSession, actor: Actor, today: date, *, limit: int = 50
) -> Overdue:
    """Open tickets due before `today` (local), the longest overdue first. They are
    counted and picked from the due-date index alone; only the `limit` shown are read
    in full."""
    late = select(Ticket.id, Ticket.due).where(
        Ticket.kind == Kind.TICKET.value,
        Ticket.status.in_(OPEN),
        Ticket.due < today,
        visible_to(actor),
    )
    count = select(func.count()).select_from(late.subquery()).scalar_subquery()
    first = late.order_by(Ticket.due, Ticket.id).limit(limit).subquery()
    target, holder = aliased(Staff), aliased(Staff)
    query = (
        select(
            Ticket.id,
            Ticket.priority,
            Department.short,
            target.login,
            holder.login,
            Ticket.due,
            func.substr(Ticket.text, 1, SNIPPET),
            count,
        )
        .select_from(first)
        .join(Ticket, Ticket.id == first.c.id)
        .join(Department, Department.id == Ticket.department_id)
        .outerjoin(target, target.id == Ticket.target_staff_id)
        .outerjoin(holder, holder.id == Ticket.holder_id)
        .order_by(first.c.due, first.c.id)
    )
    rows = (await session.execute(query)).all()
    return Overdue(rows[0][-1] if rows else 0, [OverdueTicket(*row[:-1]) for row in rows])
