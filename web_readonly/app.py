"""The read-only web page's application factory and its runner.

The process serves it as `runner = make_runner(init_app(sessions, config.web))`, then
`await runner.setup()` and `await web.TCPSite(runner, host, port).start()`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.config import LdapConfig, WebConfig
from storage.clock import utcnow
from storage.db import Sessions
from web_readonly import ldap_login
from web_readonly.auth import require_login
from web_readonly.keys import (
    CLOCK,
    CONFIG,
    LANGUAGE,
    READ_SESSIONS,
    SECURE,
    SESSIONS,
    TEMPLATES,
)
from web_readonly.period import TIMEZONE
from web_readonly.render import make_environment
from web_readonly.routes import setup_routes
from web_readonly.security import (
    mask_default_access_log,
    refuse_foreign_posts,
    runner_options,
    security_headers,
)
from web_readonly.views import error_pages


def init_app(
    sessions: Sessions,
    config: WebConfig,
    *,
    clock: Callable[[], datetime] = utcnow,
    secure: bool | None = None,
    language: str = "ru",
    timezone: str = "Europe/Moscow",
    read_sessions: Sessions | None = None,
    ldap: LdapConfig | None = None,
) -> web.Application:
    """The web application on the process's sessions (the process owns the engine).

    Cookies are Secure when `public_url` is https, unless `secure` says otherwise;
    `language` is that of the pages shown before sign-in (after it, the person's own);
    `timezone` (schedule.timezone) is that of every day and time the reports show;
    `read_sessions` serve the reports (sign-in writes go through `sessions`); `ldap` is
    the directory /sign-in asks when `config.ldap_login` is on."""
    app = web.Application(middlewares=[refuse_foreign_posts, require_login, error_pages])
    app[SESSIONS] = sessions
    app[READ_SESSIONS] = read_sessions or sessions
    app[CONFIG] = config
    app[CLOCK] = clock
    app[SECURE] = (config.public_url or "").startswith("https://") if secure is None else secure
    app[LANGUAGE] = language
    app[TIMEZONE] = ZoneInfo(timezone)
    app[TEMPLATES] = make_environment()
    app.on_response_prepare.append(security_headers)
    mask_default_access_log()  # should it be served without make_runner after all
    ldap_login.setup(app, ldap)
    setup_routes(app)
    return app


def make_runner(app: web.Application) -> web.AppRunner:
    """The runner to serve `app` with: its access log never writes a sign-in token."""
    return web.AppRunner(app, **runner_options())
