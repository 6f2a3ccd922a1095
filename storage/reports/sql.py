"""Report periods and the SQL pieces the reports share: local days, durations,
percentiles over histograms, the access rule in a range query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    SQLColumnExpression,
    Subquery,
    and_,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.access import Actor, visible_to
from storage.clock import utcnow
from storage.models import Status

PRESETS = (7, 30, 90)  # the page's "last N days"
MAX_DAYS = 3660
SNIPPET = 100  # characters of ticket text in a list row
STREAM_BATCH = 1000  # rows fetched at a time by the export's server-side cursor
OPEN = (Status.NEW.value, Status.IN_PROGRESS.value)
_EPOCH = datetime(1970, 1, 1)
_JD_1970 = 2440587.5  # julianday('1970-01-01')
_DAY_MS = 86_400_000
TAKE, CLOSE = 0, 1  # the measures of time_to_take_and_close


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


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _epoch_ms(dialect: str, moment: SQLColumnExpression[Any]) -> ColumnElement[int]:
    """Milliseconds since 1970 of a naive UTC time. SQLite keeps times to the millisecond
    in julianday(), which is several times cheaper per row than strftime('%s')."""
    if dialect == "sqlite":
        return cast(func.round((func.julianday(moment) - _JD_1970) * _DAY_MS), Integer)
    return cast(func.floor(func.date_part("epoch", moment) * 1000), BigInteger)


def minutes_between(
    dialect: str, later: SQLColumnExpression[Any], earlier: SQLColumnExpression[Any]
) -> Any:
    """Minutes from `earlier` to `later`, a float exact to the millisecond."""
    if dialect == "sqlite":
        return func.round((func.julianday(later) - func.julianday(earlier)) * _DAY_MS) / 60000.0
    # date_part is double precision; EXTRACT is numeric there, slower and no more exact
    return func.date_part("epoch", later - earlier) / 60.0


def day_index(dialect: str, period: Period, moment: SQLColumnExpression[Any]) -> ColumnElement[int]:
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


def in_period(column: SQLColumnExpression[Any], period: Period) -> ColumnElement[bool]:
    since, until = period.utc_bounds()
    return and_(column >= since, column < until)


def seen_by(dialect: str, actor: Actor) -> ColumnElement[bool]:
    """`visible_to(actor)` for a query bounded by a time range. On SQLite it is wrapped
    so the planner cannot make it the index lookup (a coordinator's OR of department,
    target and creator would read every ticket their departments ever had, then the
    period's few): the range's index leads and visibility filters its rows."""
    if dialect == "sqlite" and not actor.is_admin:
        return case((visible_to(actor), 1), else_=0) == 1
    return visible_to(actor)


def whole_minutes(
    dialect: str, later: SQLColumnExpression[Any], earlier: SQLColumnExpression[Any]
) -> ColumnElement[int]:
    """Minutes from `earlier` to `later`, rounded half up to a whole minute alike on both
    databases (from milliseconds on SQLite, whose round() and PostgreSQL's differ)."""
    if dialect == "sqlite":
        ms = cast(func.round((func.julianday(later) - func.julianday(earlier)) * _DAY_MS), Integer)
        return (ms + 30_000) // 60_000
    return cast(func.floor(func.date_part("epoch", later - earlier) / 60 + 0.5), Integer)


def running_counts(h: Subquery) -> Subquery:
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


def value_count(r: Subquery, m: int) -> Any:
    """Per group: how many values measure m has."""
    return func.coalesce(func.max(case((_values(r, m), r.c.n))), 0)


def percentile(r: Subquery, m: int, percent: int) -> Any:
    """Per group: the nearest-rank percentile of measure m, the first value whose running
    count reaches ceil(percent% of n), in integer arithmetic."""
    rank = (r.c.n * percent + 99) // 100
    return func.min(case((and_(_values(r, m), r.c.cum >= rank), r.c.x)))
