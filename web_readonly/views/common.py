"""What every page shares: the signed-in `Page`, report `Table`s and links, the period,
the CSV of a table, and the site's 404 page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.typedefs import Handler

from commands.i18n import t
from storage.access import Actor
from storage.models import Status
from web_readonly.csv_export import stream_csv
from web_readonly.keys import ACTOR, CLOCK
from web_readonly.period import TIMEZONE, PeriodChoice, choose_period
from web_readonly.render import message

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


def period_choice(request: web.Request, page: Page, *, allow_any: bool = False) -> PeriodChoice:
    return choose_period(request.query, page.tz, page.now, allow_any=allow_any)


def common_context(request: web.Request, page: Page, choice: PeriodChoice) -> dict[str, Any]:
    """Context every report page has: the period form and where its exports are."""
    return {
        "choice": choice,
        "tz": str(page.tz),
        "query_fields": {k: v for k, v in request.query.items() if k not in ("page", "table")},
        "csv_path": request.path.rstrip("/") + ".csv" if request.path != "/" else "/dashboard.csv",
    }


def ticket_link(number: int) -> Link:
    return Link(f"/tickets/{number}", f"#{number}")


async def table_csv(request: web.Request, tables: Mapping[str, Table]) -> web.StreamResponse:
    table = tables.get(request.query.get("table", ""))
    if table is None:
        raise web.HTTPNotFound()
    return await stream_csv(request, f"{table.key}.csv", table.header, _cells(table.rows))


async def _cells(rows: Iterable[Sequence[Cell]]) -> AsyncIterator[Sequence[object]]:
    for row in rows:
        yield [cell.text if isinstance(cell, Link) else cell for cell in row]


def with_query(request: web.Request, **changes: str) -> str:
    """The query string of this request with some fields changed."""
    fields = dict(request.query)
    fields.update(changes)
    return urlencode(fields)


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A 404 as a page of the site, with its top bar, rather than aiohttp's plain text."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return message(request, "not_found", status=404)
