"""What every response of the web page carries, cross-site form posts refused, and an
access log that never writes a sign-in token."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler
from yarl import URL

from web_readonly.keys import CONFIG
from web_readonly.render import message

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # the sign-in URL is a password for ten minutes: no page may send it on as a Referer
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ACCESS_LOG = logging.getLogger("web_readonly.access")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, errors included (an `on_response_prepare` signal rather than a
    middleware: it also sees responses a view streams, and those aiohttp makes itself)."""
    response.headers.update(HEADERS)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"  # pages and exports hold staff data


def _same_origin(request: web.Request) -> bool:
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser, or one too old to say: SameSite=Lax still holds
        return True
    if origin == "null" and request.headers.get("Sec-Fetch-Site") == "same-origin":
        return True  # our Referrer-Policy no-referrer makes browsers send Origin: null
    ours = {f"{request.scheme}://{request.host}"}
    if public_url := request.app[CONFIG].public_url:
        ours.add(str(URL(public_url).origin()))
    return origin in ours


@web.middleware
async def refuse_foreign_posts(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A form posted from another site is refused: no one can sign a browser in as
    someone else (login CSRF) nor out."""
    if request.method not in SAFE_METHODS and not _same_origin(request):
        return message(request, "foreign_origin", status=403)
    return await handler(request)


_LOGIN = re.compile(r"/login/", re.IGNORECASE)


def shown_path(request: web.BaseRequest) -> str:
    """The path for the access log: a sign-in token masked as `/login/***`, and nothing
    decoded that could break a log line."""
    path = request.path  # decoded: what the router matched
    found = _LOGIN.search(path)
    if found is not None:
        return quote(path[: found.start()]) + "/login/***"
    query = request.rel_url.raw_query_string
    return quote(path) + (f"?{query}" if query else "")


class MaskedAccessLogger(AbstractAccessLogger):
    """aiohttp's access log without secrets (a sign-in token in a log file would sign
    its reader in): `remote "METHOD /path HTTP/1.1" status bytes seconds`."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        version = request.version
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d %.3fs',
            request.remote,
            request.method,
            shown_path(request),
            version.major,
            version.minor,
            response.status,
            response.body_length,
            time,
        )


_TOKEN_IN_TEXT = re.compile(r"/login/[^\s\"]*", re.IGNORECASE)


def _masked(value: object) -> object:
    if isinstance(value, str):
        return _TOKEN_IN_TEXT.sub("/login/***", value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    return value


class MaskTokens(logging.Filter):
    """Masks sign-in tokens in aiohttp's own access log too, for a runner made without
    `runner_options()`: the message and the fields it puts in `extra`."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in list(vars(record).items()):
            if isinstance(value, str | dict):
                setattr(record, key, _masked(value))
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(arg) for arg in record.args)
        return True


def mask_default_access_log() -> None:
    """Install `MaskTokens` on aiohttp's access logger, once."""
    default = logging.getLogger("aiohttp.access")
    if not any(isinstance(f, MaskTokens) for f in default.filters):
        default.addFilter(MaskTokens())


def runner_options() -> dict[str, Any]:
    """The keyword arguments of `web.AppRunner` (or `TestServer`) for this application."""
    return {"access_log_class": MaskedAccessLogger, "access_log": ACCESS_LOG}
