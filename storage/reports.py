"""Report queries for the read-only web page: counts, trends and lists, aggregated in SQL.

Each function takes the session, the person the page is for and, most, a `Period`, and
counts only the tickets `visible_to(actor)` lets that person see in chat: an admin's
reports cover everything, a coordinator's their departments, a user's their own work.
Each is one statement; a page of a list is two when its count is needed.

Times are stored and returned as naive UTC; a report's days are local days of the
configured zone. A row's local day is computed in SQL from its UTC time plus the zone's
offset at that instant. The offsets in force during the period, and the instants they
change for a zone with summer time, come from zoneinfo and enter the statement as
constants (a CASE over at most a few of them), so the day is exact for every zone, on
both databases, without SQLite needing time-zone tables.

Durations are whole minutes, rounded half up alike on both databases. Percentiles are
nearest-rank, the value at rank ceil(p*n) (the median of an even count is the lower
middle value), found with window functions both databases have: running counts over a
histogram of minutes, or ROW_NUMBER() with COUNT() OVER (PARTITION BY ...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    SQLColumnExpression,
    String,
    Subquery,
    and_,
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
from sqlalchemy.orm import aliased

from storage.access import Actor, visible_to
from storage.clock import utcnow
from storage.models import Customer, Department, Kind, Staff, Status, Ticket

PRESETS = (7, 30, 90)  # the page's "last N days"
MAX_DAYS = 3660
SNIPPET = 100  # characters of ticket text in a list row
STREAM_BATCH = 1000  # rows fetched at a time by the export's server-side cursor
OPEN = (Status.NEW.value, Status.IN_PROGRESS.value)
_EPOCH = datetime(1970, 1, 1)
_JD_1970 = 2440587.5  # julianday('1970-01-01')
_DAY_MS = 86_400_000
_TAKE, _CLOSE = 0, 1  # the measures of time_to_take_and_close


@dataclass(frozen=True)
class Period:
    """Local days `start` to `end`, both included, in the zone `tz`."""

    start: date
    end: date
    tz: ZoneInfo

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")
        if self.days > MAX_DAYS:
            raise ValueError(f"a period is at most {MAX_DAYS} days")

    @classmethod
    def last(cls, days: int, tz: ZoneInfo, now: datetime | None = None) -> Period:
        """The `days` local days ending today; `now` is naive UTC (default: the clock)."""
        if days < 1:
            raise ValueError("a period has at least one day")
        today = local_today(tz, now)
        return cls(today - timedelta(days=days - 1), today, tz)

    @classmethod
    def custom(cls, start: date | str, end: date | str, tz: ZoneInfo) -> Period:
        """From dates or ISO strings (a form's fields); ValueError for a bad one."""
        first = start if isinstance(start, date) else date.fromisoformat(start)
        last = end if isinstance(end, date) else date.fromisoformat(end)
        return cls(first, last, tz)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """[since, until) in naive UTC: the local midnight starting the period and the
        one after its last day."""
        return _utc_midnight(self.start, self.tz), _utc_midnight(self.end + timedelta(1), self.tz)


def local_today(tz: ZoneInfo, now: datetime | None = None) -> date:
    return (now or utcnow()).replace(tzinfo=UTC).astimezone(tz).date()


def _utc_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def _offset(tz: ZoneInfo, at: datetime) -> int:
    delta = at.replace(tzinfo=UTC).astimezone(tz).utcoffset()
    assert delta is not None  # a ZoneInfo always has one
    return int(delta.total_seconds())


def _offsets(tz: ZoneInfo, since: datetime, until: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offsets (seconds) in force from `since` to `until`, each with the
    UTC instant it starts: one pair for a zone without summer time."""
    found = [(since, _offset(tz, since))]
    moment = since
    while moment < until:
        step = min(moment + timedelta(days=1), until)
        if _offset(tz, step) != found[-1][1]:
            low, high = moment, step  # bisect to the second the clocks change
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) // 2
                low, high = (middle, high) if _offset(tz, middle) == found[-1][1] else (low, middle)
            found.append((high, _offset(tz, high)))
        moment = step
    return found


# --- dialect helpers ----------------------------------------------------------------------


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _epoch_ms(dialect: str, moment: SQLColumnExpression[Any]) -> ColumnElement[int]:
    """Milliseconds since 1970 of a naive UTC time. SQLite keeps times to the millisecond
    in julianday(), which is several times cheaper per row than strftime('%s')."""
    if dialect == "sqlite":
        return cast(func.round((func.julianday(moment) - _JD_1970) * _DAY_MS), Integer)
    return cast(func.floor(func.date_part("epoch", moment) * 1000), BigInteger)


def _minutes(
    dialect: str, later: SQLColumnExpression[Any], earlier: SQLColumnExpression[Any]
) -> Any:
    """Minutes from `earlier` to `later`, a float exact to the millisecond."""
    if dialect == "sqlite":
        return func.round((func.julianday(later) - func.julianday(earlier)) * _DAY_MS) / 60000.0
    # date_part is double precision; EXTRACT is numeric there, slower and no more exact
    return func.date_part("epoch", later - earlier) / 60.0


def _day_of(dialect: str, period: Period, moment: SQLColumnExpression[Any]) -> ColumnElement[int]:
    """The index (0 = period.start) of the local day of a UTC time within the period."""
    since, until = period.utc_bounds()
    changes = _offsets(period.tz, since, until)
    offset: ColumnElement[int] = literal(changes[-1][1] * 1000, BigInteger)
    if len(changes) > 1:
        whens = [
            (moment < at, literal(o * 1000, BigInteger)) for (_, o), (at, _) in pairwise(changes)
        ]
        offset = case(*whens, else_=offset)
    start = (datetime.combine(period.start, time()) - _EPOCH) // timedelta(milliseconds=1)
    # non-negative inside the period, so the integer division is a floor
    return (_epoch_ms(dialect, moment) + offset - literal(start, BigInteger)) // _DAY_MS


def _in(column: SQLColumnExpression[Any], period: Period) -> ColumnElement[bool]:
    since, until = period.utc_bounds()
    return and_(column >= since, column < until)


def _seen(dialect: str, actor: Actor) -> ColumnElement[bool]:
    """`visible_to(actor)` for a query bounded by a time range. On SQLite it is wrapped
    so the planner cannot make it the index lookup (a coordinator's OR of department,
    target and creator would read every ticket their departments ever had, then the
    period's few): the range's index leads and visibility filters its rows."""
    if dialect == "sqlite" and not actor.is_admin:
        return case((visible_to(actor), 1), else_=0) == 1
    return visible_to(actor)


def _whole_minutes(
    dialect: str, later: SQLColumnExpression[Any], earlier: SQLColumnExpression[Any]
) -> ColumnElement[int]:
    """Minutes from `earlier` to `later`, rounded half up to a whole minute alike on both
    databases (from milliseconds on SQLite, whose round() and PostgreSQL's differ)."""
    if dialect == "sqlite":
        ms = cast(func.round((func.julianday(later) - func.julianday(earlier)) * _DAY_MS), Integer)
        return (ms + 30_000) // 60_000
    return cast(func.floor(func.date_part("epoch", later - earlier) / 60 + 0.5), Integer)


def _running(h: Subquery) -> Subquery:
    """From a histogram, rows (by, grp, m, x, c): the count c of the value x (whole
    minutes, NULL where there is none) of measure m in the group grp of the grouping
    `by`, a row per value with its running count `cum`, the count `n` of values and
    the count `total` of rows of its group and measure. Counting equal minutes first
    leaves the window functions a few thousand rows to sort instead of every ticket."""

    def running(*, partition_by: tuple[Any, ...], order_by: Any = None) -> Any:
        window = func.sum(h.c.c).over(
            partition_by=partition_by,
            order_by=order_by,
            rows=(None, 0) if order_by is not None else None,
        )
        return cast(window, BigInteger)  # PostgreSQL's sum is numeric: keep / an integer one

    values_of = (h.c.by, h.c.grp, h.c.m, h.c.x.is_(None))
    return select(
        h.c.by,
        h.c.grp,
        h.c.m,
        h.c.x,
        running(partition_by=values_of, order_by=h.c.x).label("cum"),
        running(partition_by=values_of).label("n"),
        running(partition_by=(h.c.by, h.c.grp, h.c.m)).label("total"),
    ).subquery()


def _values(r: Subquery, m: int) -> ColumnElement[bool]:
    return and_(r.c.m == m, r.c.x.is_not(None))


def _count(r: Subquery, m: int) -> Any:
    """Per group: how many values measure m has."""
    return func.coalesce(func.max(case((_values(r, m), r.c.n))), 0)


def _percentile(r: Subquery, m: int, percent: int) -> Any:
    """Per group: the nearest-rank percentile of measure m, the first value whose running
    count reaches ceil(percent% of n), in integer arithmetic."""
    rank = (r.c.n * percent + 99) // 100
    return func.min(case((and_(_values(r, m), r.c.cum >= rank), r.c.x)))


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
        _day_of(dialect, period, Ticket.created_at).label("day"),
        case((is_ticket, one), else_=zero).label("created"),
        zero.label("closed"),
        case((is_ticket, zero), else_=one).label("calls"),
    ).where(_seen(dialect, actor), _in(Ticket.created_at, period))
    closed = select(_day_of(dialect, period, Ticket.closed_at), zero, one, zero).where(
        _seen(dialect, actor), is_ticket, _in(Ticket.closed_at, period)
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
        - count(_seen(dialect, actor), Ticket.created_at >= moment)
        + count(_seen(dialect, actor), Ticket.closed_at >= moment)
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
    dialect = _dialect(session)
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
    dialect = _dialect(session)
    tickets = (
        select(
            Ticket.department_id.label("d"),
            Ticket.priority.label("p"),
            _whole_minutes(dialect, Ticket.taken_at, Ticket.created_at).label("take"),
            _whole_minutes(dialect, Ticket.closed_at, Ticket.created_at).label("close"),
        )
        .where(
            Ticket.kind == Kind.TICKET.value,
            _seen(dialect, actor),
            _in(Ticket.created_at, period),
        )
        .cte("created")
        .prefix_with("MATERIALIZED")
    )
    t = tickets.c
    n = func.count().label("c")
    fine = (
        union_all(
            select(t.d, t.p, literal(_TAKE, Integer).label("m"), t.take.label("x"), n).group_by(
                t.d, t.p, t.take
            ),
            select(t.d, t.p, literal(_CLOSE, Integer), t.close, n).group_by(t.d, t.p, t.close),
        )
        .cte("fine")
        .prefix_with("MATERIALIZED")
    )
    f = fine.c

    def summed(by: int, group: Any) -> Select[Any]:
        count = cast(func.sum(f.c), BigInteger).label("c")
        grouping = literal(by, Integer).label("by")
        return select(grouping, group.label("grp"), f.m, f.x, count).group_by(group, f.m, f.x)

    r = _running(union_all(summed(_BY_DEPARTMENT, f.d), summed(_BY_PRIORITY, f.p)).subquery())
    stats = (
        select(
            r.c.by,
            r.c.grp,
            func.max(r.c.total).label("tickets"),
            _count(r, _TAKE).label("taken"),
            _percentile(r, _TAKE, 50).label("take_median"),
            _percentile(r, _TAKE, 90).label("take_p90"),
            _count(r, _CLOSE).label("closed"),
            _percentile(r, _CLOSE, 50).label("close_median"),
            _percentile(r, _CLOSE, 90).label("close_p90"),
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
    minutes = _whole_minutes(dialect, Ticket.closed_at, Ticket.created_at)
    done = (
        select(
            Ticket.holder_id.label("staff_id"),
            minutes.label("mins"),
            func.row_number().over(partition_by=Ticket.holder_id, order_by=minutes).label("rank"),
            func.count().over(partition_by=Ticket.holder_id).label("n"),
        )
        .where(
            Ticket.kind == Kind.TICKET.value,
            _seen(dialect, actor),
            _in(Ticket.closed_at, period),
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
    both = union_all(_open_work(actor), _closed_work(_dialect(session), actor, period)).subquery()
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
    return _seen(dialect, actor), _in(Ticket.created_at, period), Ticket.customer_id.is_not(None)


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
        .where(*_contacts(_dialect(session), actor, period))
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
        .where(*_contacts(_dialect(session), actor, period))
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
        .where(*_contacts(_dialect(session), actor, period))
        .subquery()
    )
    gap = _minutes(_dialect(session), contacts.c.created_at, contacts.c.previous)
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
            found.append(_in(Ticket.created_at, self.period))
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
    dialect = _dialect(session)
    wanted = TicketFilter(department, status, priority, kind, period, text).conditions(dialect)
    # the page walks the created_at index newest first; the count reads a report index
    # from end to end (narrow, and holding the access rule's columns), which beats
    # following the rule's OR of department, target and creator to every row it names
    query = _ticket_rows([_seen(dialect, actor), *wanted], snippet=True)
    rows = [TicketRow(*row) for row in await session.execute(query.limit(limit).offset(offset))]
    counted = [_seen(dialect, actor), *wanted]
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
    dialect = _dialect(session)
    wanted = TicketFilter(department, status, priority, kind, period, text).conditions(dialect)
    query = _ticket_rows([_seen(dialect, actor), *wanted], snippet=False)
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
        _seen(_dialect(session), actor),
        _in(Ticket.created_at, period),
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
