"""GET /: open tickets now, the period's trends and times, what is overdue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from aiohttp import web
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from storage import reports
from web_readonly.charts import Series, bar_chart, chart_table, line_chart
from web_readonly.keys import READ_SESSIONS
from web_readonly.period import PeriodChoice, day_label
from web_readonly.render import template
from web_readonly.views.common import (
    Page,
    Table,
    common_context,
    page_of,
    period_choice,
    table_csv,
    ticket_link,
)

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
    choice = period_choice(request, page)
    tables, series, overdue_count = await _dashboard_data(request, page, choice)
    quiet = not any(d.created or d.closed or d.calls for d in series["per_day"])
    return {
        **common_context(request, page, choice),
        "tables": tables,
        "charts": _charts(tables, series, page),
        "overdue_count": overdue_count,
        "quiet": quiet,
    }


async def dashboard_csv(request: web.Request) -> web.StreamResponse:
    """GET /dashboard.csv?table=<key>&<period>: one of the dashboard's tables."""
    page = page_of(request)
    tables, _, _ = await _dashboard_data(request, page, period_choice(request, page))
    return await table_csv(request, tables)
