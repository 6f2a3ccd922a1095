"""The pages behind the sign-in; each view returns its template's context."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from web_readonly.render import message, template


@template("home.html")
async def dashboard(request: web.Request) -> Mapping[str, Any]:
    """GET /: a placeholder until the dashboard's own view replaces it."""
    return {}


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A 404 as a page of the site, with its top bar, rather than aiohttp's plain text."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return message(request, "not_found", status=404)
