"""Templates: one Jinja2 environment with autoescape, and the helpers views render with."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from commands.i18n import t
from web_readonly.keys import ACTOR, LANGUAGE, TEMPLATES

TEMPLATES_DIR = Path(__file__).with_name("templates")
# the top bar's links: (i18n key under web.nav., path)
NAV = (
    ("dashboard", "/"),
    ("workload", "/workload"),
    ("customers", "/customers"),
    ("tickets", "/tickets"),
    ("calls", "/calls"),
)

View = Callable[[web.Request], Awaitable[Mapping[str, Any]]]
Handler = Callable[[web.Request], Awaitable[web.Response]]


def make_environment() -> jinja2.Environment:
    """Every template is HTML: escape everything, and fail on a misspelt variable."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(
    request: web.Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    """The template as an HTML response. Every template gets `actor` (None before sign-in),
    `lang`, `t(key, **params)` in the reader's language, `nav` and `path`."""
    actor = request.get(ACTOR)
    language = actor.language if actor is not None else request.app[LANGUAGE]
    page_template = request.app[TEMPLATES].get_template(name)
    page = page_template.render(
        actor=actor,
        lang=language,
        t=functools.partial(t, language),
        nav=NAV,
        path=nav_path(request.path),
        **(context or {}),
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")


def nav_path(path: str) -> str:
    """The top bar's link a page belongs under: `/tickets/12` is one of the tickets."""
    return next((href for _, href in NAV if href != "/" and path.startswith(href + "/")), path)


def template(name: str) -> Callable[[View], Handler]:
    """Make a view that returns its template's context into a handler (aiohttp_jinja2's
    `@template`, which is not a dependency here)."""

    def decorate(view: View) -> Handler:
        @functools.wraps(view)
        async def handler(request: web.Request) -> web.Response:
            return render(request, name, await view(request))

        return handler

    return decorate


def message(request: web.Request, key: str, *, status: int) -> web.Response:
    """A page of one message: its title is `web.<key>.title`, its text `web.<key>`."""
    return render(request, "message.html", {"key": key}, status=status)
