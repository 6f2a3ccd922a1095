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

The modules: `sql` (the period and the SQL pieces the others share), `dashboard`,
`people` (workload and customers) and `lists` (tickets and calls); the names the web page
uses are imported from here.
"""

from __future__ import annotations

from storage.reports.dashboard import (
    Day,
    DayBacklog,
    DayCounts,
    Durations,
    DurationsBy,
    OpenCount,
    OpenNow,
    Overdue,
    OverdueTicket,
    backlog_per_day,
    created_closed_per_day,
    durations,
    open_by,
    open_now,
    overdue_now,
    per_day,
    time_to_take_and_close,
)
from storage.reports.lists import (
    CallPage,
    CallRow,
    TicketFilter,
    TicketPage,
    TicketRow,
    calls,
    calls_stream,
    ticket_list,
    ticket_rows_stream,
)
from storage.reports.people import (
    CustomerDepartment,
    RepeatCaller,
    RepeatCallers,
    TopCaller,
    Workload,
    per_customer_department,
    repeat_callers,
    top_callers,
    workload,
)
from storage.reports.sql import (
    MAX_DAYS,
    OPEN,
    PRESETS,
    SNIPPET,
    Period,
    local_today,
)

__all__ = [
    "MAX_DAYS",
    "OPEN",
    "PRESETS",
    "SNIPPET",
    "CallPage",
    "CallRow",
    "CustomerDepartment",
    "Day",
    "DayBacklog",
    "DayCounts",
    "Durations",
    "DurationsBy",
    "OpenCount",
    "OpenNow",
    "Overdue",
    "OverdueTicket",
    "Period",
    "RepeatCaller",
    "RepeatCallers",
    "TicketFilter",
    "TicketPage",
    "TicketRow",
    "TopCaller",
    "Workload",
    "backlog_per_day",
    "calls",
    "calls_stream",
    "created_closed_per_day",
    "durations",
    "local_today",
    "open_by",
    "open_now",
    "overdue_now",
    "per_customer_department",
    "per_day",
    "repeat_callers",
    "ticket_list",
    "ticket_rows_stream",
    "time_to_take_and_close",
    "top_callers",
    "workload",
]
