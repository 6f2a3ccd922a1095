"""The pages behind the sign-in; each view returns its template's context.

Every figure comes from storage.reports, scoped to the signed-in person there; a report
table is a `Table`, drawn by `_table.html` and exported as CSV by the same code, so the
page and its export never disagree.

The modules: `common` (what every page shares), `dashboard`, `tickets` and `people`
(workload, customers, calls); routes.py takes the views from here.
"""

from __future__ import annotations

from web_readonly.views.common import error_pages
from web_readonly.views.dashboard import dashboard, dashboard_csv
from web_readonly.views.people import (
    calls,
    calls_csv,
    customers,
    customers_csv,
    workload,
    workload_csv,
)
from web_readonly.views.tickets import ticket, tickets, tickets_csv

__all__ = [
    "calls",
    "calls_csv",
    "customers",
    "customers_csv",
    "dashboard",
    "dashboard_csv",
    "error_pages",
    "ticket",
    "tickets",
    "tickets_csv",
    "workload",
    "workload_csv",
]
