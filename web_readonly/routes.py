"""The route table: add a page here, with a name (auth.PUBLIC lists the public names)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web_readonly import auth, files, ldap_login, views

STATIC_DIR = Path(__file__).with_name("static")


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", views.dashboard, name="dashboard")
    app.router.add_get("/dashboard.csv", views.dashboard_csv, name="dashboard_csv")
    app.router.add_get("/tickets", views.tickets, name="tickets")
    app.router.add_get("/tickets.csv", views.tickets_csv, name="tickets_csv")
    app.router.add_get(r"/tickets/{n:\d{1,9}}", views.ticket, name="ticket")
    app.router.add_get(r"/files/{id:\d{1,9}}", files.download, name="attachment")
    app.router.add_get("/workload", views.workload, name="workload")
    app.router.add_get("/workload.csv", views.workload_csv, name="workload_csv")
    app.router.add_get("/customers", views.customers, name="customers")
    app.router.add_get("/customers.csv", views.customers_csv, name="customers_csv")
    app.router.add_get("/calls", views.calls, name="calls")
    app.router.add_get("/calls.csv", views.calls_csv, name="calls_csv")
    app.router.add_get("/login/{token}", auth.login_form, name="login_form")
    app.router.add_post("/login", auth.login, name="login")
    app.router.add_post("/logout", auth.logout, name="logout")
    app.router.add_get("/signed-out", auth.signed_out, name="signed_out")
    if ldap_login.enabled(app):  # web.ldap_login with an ldap: section; else an unknown path
        app.router.add_get("/sign-in", ldap_login.sign_in_form, name="sign_in_form")
        app.router.add_post("/sign-in", ldap_login.sign_in, name="sign_in")
    app.router.add_static("/static/", STATIC_DIR, name="static")
