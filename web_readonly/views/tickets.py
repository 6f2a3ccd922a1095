"""The ticket list with its filters and export, and a ticket's own page."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commands.workflow import event_line
from storage import queries, reports
from storage.models import Department
from web_readonly import files
from web_readonly.csv_export import stream_csv
from web_readonly.keys import READ_SESSIONS
from web_readonly.period import PeriodChoice, local
from web_readonly.render import template
from web_readonly.views.common import (
    MAX_TEXT_FILTER,
    PAGE_SIZE,
    PRIORITIES,
    STATUSES,
    Cell,
    Link,
    Page,
    Table,
    common_context,
    page_of,
    period_choice,
    ticket_link,
    with_query,
)

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
        period_choice(request, page, allow_any=True),
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
        **common_context(request, page, flt.choice),
        "filter": flt,
        "departments": departments,
        "statuses": [(s, page.status(s)) for s in STATUSES],
        "priorities": [(p, page.priority(p)) for p in PRIORITIES],
        "table": table,
        "current": current,
        "pages": pages,
        "page_query": {n: with_query(request, page=str(n)) for n in (current - 1, current + 1)},
    }


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
        attachments = await files.listed(session, found.id, page.lang, page.tz)
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
        "attachments": attachments,
    }
