"""Workload per person, customers and calls."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from aiohttp import web

from storage import reports
from web_readonly.charts import Series, bar_chart
from web_readonly.csv_export import stream_csv
from web_readonly.keys import READ_SESSIONS
from web_readonly.period import PeriodChoice, local
from web_readonly.render import template
from web_readonly.views.common import (
    EXPORT_LIMIT,
    PAGE_SIZE,
    Cell,
    Page,
    Table,
    common_context,
    page_of,
    period_choice,
    table_csv,
    ticket_link,
    with_query,
)

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
    choice = period_choice(request, page)
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
    return {**common_context(request, page, choice), "table": table, "chart": chart}


def _count(cell: Cell) -> int:
    return cell if isinstance(cell, int) else 0


async def workload_csv(request: web.Request) -> web.StreamResponse:
    page = page_of(request)
    return await table_csv(
        request, await _workload_tables(request, page, period_choice(request, page))
    )


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
    choice = period_choice(request, page)
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
        **common_context(request, page, choice),
        "tables": tables,
        "chart": chart,
        "repeat_count": repeat_count,
    }


async def customers_csv(request: web.Request) -> web.StreamResponse:
    page = page_of(request)
    choice = period_choice(request, page)
    tables, _ = await _customer_tables(request, page, choice, limit=EXPORT_LIMIT)
    return await table_csv(request, tables)


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
    choice = period_choice(request, page)
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
        **common_context(request, page, choice),
        "table": table,
        "current": current,
        "pages": max(1, math.ceil(found.total / PAGE_SIZE)),
        "page_query": {n: with_query(request, page=str(n)) for n in (current - 1, current + 1)},
    }


async def calls_csv(request: web.Request) -> web.StreamResponse:
    """GET /calls.csv: every call of the period, streamed, with the page's columns."""
    page = page_of(request)
    choice = period_choice(request, page)
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
