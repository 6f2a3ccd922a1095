"""The pages behind the sign-in; each view returns its template's context.

Every figure comes from storage.reports, scoped to the signed-in person there; a report
table is a `Table`, drawn by `_table.html` and exported as CSV by the same code, so the
page and its export never disagree.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.typedefs import Handler
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commands.i18n import t
from commands.workflow import event_line
from storage import queries, reports
from storage.access import Actor
from storage.models import Department, Status
from web_readonly.charts import Series, bar_chart, chart_table, line_chart
from web_readonly.csv_export import stream_csv
from web_readonly.keys import ACTOR, CLOCK, READ_SESSIONS
from web_readonly.period import TIMEZONE, PeriodChoice, choose_period, day_label, local
from web_readonly.render import message, template

PAGE_SIZE = 50
EXPORT_LIMIT = 10_000  # rows of a customers table in its CSV (the page shows the first ones)
STATUSES = tuple(s.value for s in Status)
PRIORITIES = (4, 3, 2, 1)
MAX_TEXT_FILTER = 200


@dataclass(frozen=True)
class Link:
    """A cell that links to a page (its CSV cell is the text)."""

    href: str
    text: str


Cell = str | int | float | Link | None


@dataclass
class Table:
    """A report table: the page draws it, `…csv?table=<key>` exports it."""

    key: str
    caption: str
    header: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    numeric: frozenset[int] = frozenset()  # right-aligned columns
    empty: str = ""


@dataclass(frozen=True)
class Page:
    """What every report view starts from: who, in which language and zone, when."""

    actor: Actor
    lang: str
    tz: ZoneInfo
    now: datetime  # naive UTC

    def t(self, key: str, **params: object) -> str:
        return t(self.lang, key, **params)

    def duration(self, minutes: float | None) -> str:
        if minutes is None:
            return "—"
        whole = round(minutes)
        if whole < 60:
            return self.t("web.minutes", n=whole)
        hours, mins = divmod(whole, 60)
        if hours < 24:
            return self.t("web.hours", h=hours, m=mins)
        days, hours = divmod(hours, 24)
        return self.t("web.days", d=days, h=hours)

    def priority(self, value: int) -> str:
        return self.t(f"prio.{value}")

    def status(self, value: str) -> str:
        return self.t(f"status.{value}")


def page_of(request: web.Request) -> Page:
    actor = request[ACTOR]
    return Page(actor, actor.language, request.app[TIMEZONE], request.app[CLOCK]())


def _period(request: web.Request, page: Page, *, allow_any: bool = False) -> PeriodChoice:
    return choose_period(request.query, page.tz, page.now, allow_any=allow_any)


def _common(request: web.Request, page: Page, choice: PeriodChoice) -> dict[str, Any]:
    """Context every report page has: the period form and where its exports are."""
    return {
        "choice": choice,
        "tz": str(page.tz),
        "query_fields": {k: v for k, v in request.query.items() if k not in ("page", "table")},
        "csv_path": request.path.rstrip("/") + ".csv" if request.path != "/" else "/dashboard.csv",
    }


def ticket_link(number: int) -> Link:
    return Link(f"/tickets/{number}", f"#{number}")


# --- dashboard --------------------------------------------------------------------------


async def _dashboard_tables(
    session: AsyncSession, page: Page, period: reports.Period
) -> tuple[dict[str, Table], dict[str, Any]]:
    """The dashboard's tables by key, and the per-day series its charts draw."""
    actor, tables = page.actor, {}
    open_now = await reports.open_now(session, actor)
    for by in ("department", "status", "priority"):
        counts: list[reports.OpenCount] = getattr(open_now, by)
        table = Table(
            f"open_{by}",
            page.t(f"web.dash.open_by_{by}"),
            [page.t(f"web.col.{by}"), page.t("web.col.open")],
            numeric=frozenset({1}),
            empty=page.t("web.empty.open"),
        )
        for c in counts:
            label = str(c.group)
            if by == "status":
                label = page.status(str(c.group))
            elif by == "priority":
                label = page.priority(int(c.group))
            table.rows.append([label, c.count])
        tables[table.key] = table
    per_day = await reports.per_day(session, actor, period, open_now=open_now.total)
    days = Table(
        "per_day",
        page.t("web.dash.per_day"),
        [
            page.t("web.col.day"),
            page.t("web.col.created"),
            page.t("web.col.closed"),
            page.t("web.col.calls"),
            page.t("web.col.backlog"),
        ],
        numeric=frozenset({1, 2, 3, 4}),
    )
    for d in per_day:
        days.rows.append([d.day.isoformat(), d.created, d.closed, d.calls, d.backlog])
    tables[days.key] = days
    durations = await reports.durations(session, actor, period)
    tables["time_department"] = _durations(page, durations.department, "department")
    tables["time_priority"] = _durations(page, durations.priority, "priority")
    series = {"per_day": per_day}
    return tables, series


def _durations(
    page: Page, rows: list[reports.Durations], by: Literal["department", "priority"]
) -> Table:
    header = [page.t(f"web.col.{by}")] + [
        page.t(f"web.col.{k}")
        for k in (
            "tickets",
            "taken",
            "take_median",
            "take_p90",
            "closed",
            "close_median",
            "close_p90",
        )
    ]
    table = Table(
        f"time_{by}",
        page.t(f"web.dash.time_by_{by}"),
        header,
        numeric=frozenset(range(1, 8)),
        empty=page.t("web.empty.period"),
    )
    for r in rows:
        group = page.priority(int(r.group)) if by == "priority" else str(r.group)
        table.rows.append(
            [
                group,
                r.tickets,
                r.taken,
                page.duration(r.take_median),
                page.duration(r.take_p90),
                r.closed,
                page.duration(r.close_median),
                page.duration(r.close_p90),
            ]
        )
    return table


async def _overdue(session: AsyncSession, page: Page) -> tuple[int, Table]:
    found = await reports.overdue_now(session, page.actor, reports.local_today(page.tz, page.now))
    header = [
        page.t(f"web.col.{k}")
        for k in ("number", "due", "priority", "department", "target", "holder", "text")
    ]
    table = Table("overdue", page.t("web.dash.overdue"), header, empty=page.t("web.empty.overdue"))
    for o in found.tickets:
        table.rows.append(
            [
                ticket_link(o.id),
                o.due.isoformat(),
                page.priority(o.priority),
                o.department,
                o.target,
                o.holder,
                o.text,
            ]
        )
    return found.count, table


def _bars(table: Table, page: Page) -> Markup:
    labels = [str(row[0]) for row in table.rows]
    values = [int(row[1]) for row in table.rows if isinstance(row[1], int)]
    return bar_chart(
        labels,
        [Series(table.header[1], values)],
        title=table.caption,
        empty_text=table.empty,
        height=220,
    )


def _charts(tables: dict[str, Table], series: dict[str, Any], page: Page) -> dict[str, Markup]:
    per_day: list[reports.Day] = series["per_day"]
    labels = [day_label(d.day) for d in per_day]
    created = Series(page.t("web.col.created"), [d.created for d in per_day])
    closed = Series(page.t("web.col.closed"), [d.closed for d in per_day])
    open_line = Series(page.t("web.col.backlog"), [d.backlog for d in per_day])
    empty = page.t("web.empty.period")
    return {
        **{k: _bars(tables[k], page) for k in ("open_department", "open_status", "open_priority")},
        "per_day": bar_chart(
            labels, [created, closed], title=page.t("web.dash.created_closed"), empty_text=empty
        ),
        "backlog": line_chart(
            labels, [open_line], title=page.t("web.dash.backlog"), empty_text=empty
        ),
        "per_day_table": chart_table(
            labels,
            [created, closed, open_line],
            caption=page.t("web.dash.per_day"),
            label_header=page.t("web.col.day"),
        ),
    }


async def _dashboard_data(
    request: web.Request, page: Page, choice: PeriodChoice
) -> tuple[dict[str, Table], dict[str, Any], int]:
    assert choice.period is not None
    async with request.app[READ_SESSIONS]() as session:
        tables, series = await _dashboard_tables(session, page, choice.period)
        overdue_count, tables["overdue"] = await _overdue(session, page)
    return tables, series, overdue_count


@template("dashboard.html")
async def dashboard(request: web.Request) -> Mapping[str, Any]:
    """GET /: open tickets now, the period's trends and times, what is overdue."""
    page = page_of(request)
    choice = _period(request, page)
    tables, series, overdue_count = await _dashboard_data(request, page, choice)
    quiet = not any(d.created or d.closed or d.calls for d in series["per_day"])
    return {
        **_common(request, page, choice),
        "tables": tables,
        "charts": _charts(tables, series, page),
        "overdue_count": overdue_count,
        "quiet": quiet,
    }


async def dashboard_csv(request: web.Request) -> web.StreamResponse:
    """GET /dashboard.csv?table=<key>&<period>: one of the dashboard's tables."""
    page = page_of(request)
    tables, _, _ = await _dashboard_data(request, page, _period(request, page))
    return await _table_csv(request, tables)


async def _table_csv(request: web.Request, tables: Mapping[str, Table]) -> web.StreamResponse:
    table = tables.get(request.query.get("table", ""))
    if table is None:
        raise web.HTTPNotFound()
    return await stream_csv(request, f"{table.key}.csv", table.header, _cells(table.rows))


async def _cells(rows: Iterable[Sequence[Cell]]) -> AsyncIterator[Sequence[object]]:
    for row in rows:
        yield [cell.text if isinstance(cell, Link) else cell for cell in row]


# --- tickets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketFilter:
    department: str | None
    status: str | None
    priority: int | None
    text: str | None
    choice: PeriodChoice

    def arguments(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "status": self.status,
            "kind": "ticket",
            "priority": self.priority,
            "period": self.choice.period,
            "text": self.text,
        }


async def _departments(session: AsyncSession) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(Department.short, Department.name).order_by(Department.short)
    )
    return [(short, name) for short, name in rows]


def _ticket_filter(
    request: web.Request, page: Page, departments: list[tuple[str, str]]
) -> TicketFilter:
    """The filters as given; a value that is not one of the choices is ignored."""
    q = request.query
    department = q.get("department", "")
    priority = q.get("priority", "")
    text = q.get("q", "").strip()[:MAX_TEXT_FILTER]
    return TicketFilter(
        department if department in {d for d, _ in departments} else None,
        q.get("status") if q.get("status") in STATUSES else None,
        int(priority) if priority.isdigit() and int(priority) in PRIORITIES else None,
        text or None,
        _period(request, page, allow_any=True),
    )


def _ticket_rows(rows: Iterable[reports.TicketRow], page: Page) -> list[list[Cell]]:
    return [
        [
            ticket_link(r.id),
            local(r.created_at, page.tz),
            page.status(r.status),
            page.priority(r.priority),
            r.department,
            r.target,
            r.holder,
            r.customer,
            r.due.isoformat() if r.due else None,
            r.text,
        ]
        for r in rows
    ]


TICKET_COLUMNS = (
    "number",
    "created",
    "status",
    "priority",
    "department",
    "target",
    "holder",
    "customer",
    "due",
    "text",
)


@template("tickets.html")
async def tickets(request: web.Request) -> Mapping[str, Any]:
    """GET /tickets: the tickets this person sees, filtered, 50 a page, newest first."""
    page = page_of(request)
    number = request.query.get("page", "1")
    current = int(number) if number.isdigit() and int(number) > 0 else 1
    async with request.app[READ_SESSIONS]() as session:
        departments = await _departments(session)
        flt = _ticket_filter(request, page, departments)
        found = await reports.ticket_list(
            session,
            page.actor,
            **flt.arguments(),
            limit=PAGE_SIZE,
            offset=(current - 1) * PAGE_SIZE,
        )
    header = [page.t(f"web.col.{k}") for k in TICKET_COLUMNS]
    table = Table(
        "tickets",
        page.t("web.tickets.found", n=found.total),
        header,
        _ticket_rows(found.rows, page),
        empty=page.t("web.empty.tickets"),
    )
    pages = max(1, math.ceil(found.total / PAGE_SIZE))
    return {
        **_common(request, page, flt.choice),
        "filter": flt,
        "departments": departments,
        "statuses": [(s, page.status(s)) for s in STATUSES],
        "priorities": [(p, page.priority(p)) for p in PRIORITIES],
        "table": table,
        "current": current,
        "pages": pages,
        "page_query": {n: _with(request, page=str(n)) for n in (current - 1, current + 1)},
    }


def _with(request: web.Request, **changes: str) -> str:
    """The query string of this request with some fields changed."""
    fields = dict(request.query)
    fields.update(changes)
    return urlencode(fields)


async def tickets_csv(request: web.Request) -> web.StreamResponse:
    """GET /tickets.csv: every ticket matching the filters, whole texts, streamed."""
    page = page_of(request)
    header = [page.t(f"web.col.{k}") for k in TICKET_COLUMNS]
    async with request.app[READ_SESSIONS]() as session:
        flt = _ticket_filter(request, page, await _departments(session))
        rows = reports.ticket_rows_stream(session, page.actor, **flt.arguments())
        return await stream_csv(request, "tickets.csv", header, _stream_cells(rows, page))


async def _stream_cells(
    rows: AsyncIterator[reports.TicketRow], page: Page
) -> AsyncIterator[Sequence[object]]:
    try:
        async for row in rows:
            [cells] = _ticket_rows([row], page)
            yield [cell.text if isinstance(cell, Link) else cell for cell in cells]
    finally:
        if hasattr(rows, "aclose"):
            await rows.aclose()


@template("ticket.html")
async def ticket(request: web.Request) -> Mapping[str, Any]:
    """GET /tickets/{n}: one ticket and its history; one that may not be seen is a 404
    exactly like one that does not exist."""
    page = page_of(request)
    async with request.app[READ_SESSIONS]() as session:
        found = await queries.visible_ticket(session, page.actor, int(request.match_info["n"]))
        if found is None:
            raise web.HTTPNotFound()
        events = await queries.history(session, found.id)
        people = {found.creator_id, found.target_staff_id, found.holder_id}
        people |= {e.actor_id for e in events}
        names = await queries.names_of_staff(session, {i for i in people if i is not None})
        departments = await queries.names_of_departments(session)
        customer = await queries.customer_name(session, found.customer_id)
    history = [
        (local(e.at, page.tz), event_line(page.lang, e, names.get(e.actor_id or 0, "?")))
        for e in events
    ]
    return {
        "tz": str(page.tz),
        "ticket": found,
        "kind": page.t(f"web.kind.{found.kind}"),
        "status": page.status(found.status),
        "priority": page.priority(found.priority),
        "department": departments.get(found.department_id, "?"),
        "names": names,
        "customer": customer,
        "created": local(found.created_at, page.tz),
        "closed": local(found.closed_at, page.tz),
        "history": history,
    }


# --- workload, customers, calls ---------------------------------------------------------


async def _workload_tables(
    request: web.Request, page: Page, choice: PeriodChoice
) -> dict[str, Table]:
    assert choice.period is not None
    async with request.app[READ_SESSIONS]() as session:
        rows = await reports.workload(session, page.actor, choice.period)
    header = [
        page.t(f"web.col.{k}")
        for k in ("staff", "department", "open", "held", "closed_in_period", "close_median")
    ]
    table = Table(
        "workload",
        page.t("web.workload.title"),
        header,
        numeric=frozenset({2, 3, 4, 5}),
        empty=page.t("web.empty.period"),
    )
    for w in rows:
        table.rows.append(
            [
                w.login,
                w.department,
                w.open,
                w.in_progress,
                w.closed,
                page.duration(w.close_median),
            ]
        )
    return {table.key: table}


@template("workload.html")
async def workload(request: web.Request) -> Mapping[str, Any]:
    """GET /workload: per staff member, open, held and closed work."""
    page = page_of(request)
    choice = _period(request, page)
    tables = await _workload_tables(request, page, choice)
    table = tables["workload"]
    # open work and the period's closed work side by side, so a week when nobody holds
    # anything still shows who closed what
    chart = bar_chart(
        [str(row[0]) for row in table.rows],
        [Series(table.header[i], [_count(row[i]) for row in table.rows]) for i in (2, 4)],
        title=page.t("web.workload.chart"),
        empty_text=table.empty,
    )
    return {**_common(request, page, choice), "table": table, "chart": chart}


def _count(cell: Cell) -> int:
    return cell if isinstance(cell, int) else 0


async def workload_csv(request: web.Request) -> web.StreamResponse:
    page = page_of(request)
    return await _table_csv(request, await _workload_tables(request, page, _period(request, page)))


async def _customer_tables(
    request: web.Request, page: Page, choice: PeriodChoice, limit: int
) -> tuple[dict[str, Table], int]:
    assert choice.period is not None
    actor, period = page.actor, choice.period
    async with request.app[READ_SESSIONS]() as session:
        top = await reports.top_callers(session, actor, period, limit=limit)
        by_dept = await reports.per_customer_department(session, actor, period)
        repeat = await reports.repeat_callers(session, actor, period, limit=limit)
    col = page.t
    empty = page.t("web.empty.period")
    tables = {
        "top": Table(
            "top",
            col("web.customers.top"),
            [
                col("web.col.customer"),
                col("web.col.customer_department"),
                col("web.col.calls"),
                col("web.col.tickets"),
                col("web.col.last_contact"),
            ],
            [
                [c.name, c.department, c.calls, c.tickets, local(c.last_contact, page.tz)]
                for c in top
            ],
            frozenset({2, 3}),
            empty,
        ),
        "departments": Table(
            "departments",
            col("web.customers.departments"),
            [
                col("web.col.customer_department"),
                col("web.col.customers"),
                col("web.col.calls"),
                col("web.col.tickets"),
            ],
            [
                [d.department or col("web.no_department"), d.customers, d.calls, d.tickets]
                for d in by_dept
            ],
            frozenset({1, 2, 3}),
            empty,
        ),
        "repeat": Table(
            "repeat",
            col("web.customers.repeat"),
            [
                col("web.col.customer"),
                col("web.col.customer_department"),
                col("web.col.contacts"),
                col("web.col.repeats"),
                col("web.col.last_contact"),
            ],
            [
                [c.name, c.department, c.contacts, c.repeats, local(c.last_contact, page.tz)]
                for c in repeat.customers
            ],
            frozenset({2, 3}),
            empty,
        ),
    }
    return tables, repeat.count


@template("customers.html")
async def customers(request: web.Request) -> Mapping[str, Any]:
    """GET /customers: who calls most, from which departments, who comes back."""
    page = page_of(request)
    choice = _period(request, page)
    tables, repeat_count = await _customer_tables(request, page, choice, limit=20)
    top = tables["departments"]
    chart = bar_chart(
        [str(row[0]) for row in top.rows[:15]],
        [
            Series(top.header[2], [int(r[2]) for r in top.rows[:15] if isinstance(r[2], int)]),
            Series(top.header[3], [int(r[3]) for r in top.rows[:15] if isinstance(r[3], int)]),
        ],
        title=top.caption,
        stacked=True,
        empty_text=top.empty,
        total_text=page.t("web.total"),
    )
    return {
        **_common(request, page, choice),
        "tables": tables,
        "chart": chart,
        "repeat_count": repeat_count,
    }


async def customers_csv(request: web.Request) -> web.StreamResponse:
    page = page_of(request)
    choice = _period(request, page)
    tables, _ = await _customer_tables(request, page, choice, limit=EXPORT_LIMIT)
    return await _table_csv(request, tables)


CALL_COLUMNS = (
    "number",
    "created",
    "customer",
    "customer_department",
    "recorded_by",
    "department",
    "text",
)


@template("calls.html")
async def calls(request: web.Request) -> Mapping[str, Any]:
    """GET /calls: the calls recorded in the period, 50 a page."""
    page = page_of(request)
    choice = _period(request, page)
    assert choice.period is not None
    number = request.query.get("page", "1")
    current = int(number) if number.isdigit() and int(number) > 0 else 1
    async with request.app[READ_SESSIONS]() as session:
        found = await reports.calls(
            session, page.actor, choice.period, limit=PAGE_SIZE, offset=(current - 1) * PAGE_SIZE
        )
    table = Table(
        "calls",
        page.t("web.calls.found", n=found.total),
        [page.t(f"web.col.{k}") for k in CALL_COLUMNS],
        [
            [
                ticket_link(c.id),
                local(c.created_at, page.tz),
                c.customer,
                c.customer_department,
                c.recorded_by,
                c.department,
                c.text,
            ]
            for c in found.rows
        ],
        empty=page.t("web.empty.calls"),
    )
    return {
        **_common(request, page, choice),
        "table": table,
        "current": current,
        "pages": max(1, math.ceil(found.total / PAGE_SIZE)),
        "page_query": {n: _with(request, page=str(n)) for n in (current - 1, current + 1)},
    }


async def calls_csv(request: web.Request) -> web.StreamResponse:
    """GET /calls.csv: every call of the period, streamed, with the page's columns."""
    page = page_of(request)
    choice = _period(request, page)
    assert choice.period is not None
    header = [page.t(f"web.col.{k}") for k in CALL_COLUMNS]
    async with request.app[READ_SESSIONS]() as session:
        rows = reports.calls_stream(session, page.actor, choice.period)
        return await stream_csv(request, "calls.csv", header, _call_cells(rows, page))


async def _call_cells(
    rows: AsyncIterator[reports.CallRow], page: Page
) -> AsyncIterator[Sequence[object]]:
    try:
        async for c in rows:
            yield [
                f"#{c.id}",
                local(c.created_at, page.tz),
                c.customer,
                c.customer_department,
                c.recorded_by,
                c.department,
                c.text,
            ]
    finally:
        if hasattr(rows, "aclose"):
            await rows.aclose()


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A 404 as a page of the site, with its top bar, rather than aiohttp's plain text."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return message(request, "not_found", status=404)
