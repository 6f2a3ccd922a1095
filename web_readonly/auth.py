"""Signing in with a `report` link, signing out, and the middleware that lets no one else in.

The link's GET only shows a button: chat clients fetch links to draw previews, and that
fetch must not spend the one use. The POST behind the button spends it.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from commands.i18n import t
from storage import web_auth
from storage.access import Actor
from web_readonly.keys import ACTOR, CLOCK, CONFIG, LANGUAGE, SECURE, SESSIONS
from web_readonly.render import message, render

COOKIE = "hd_session"
# routes anyone may reach (by route name, so a path is public exactly when it routes there)
PUBLIC = frozenset({"login_form", "login", "sign_in_form", "sign_in", "signed_out", "static"})


async def login_form(request: web.Request) -> web.Response:
    """GET /login/{token}: a "Sign in" button posting the token; the token stays unused."""
    return render(request, "login.html", {"token": request.match_info["token"]})


async def login(request: web.Request) -> web.Response:
    """POST /login: spend the link and start a session, in one transaction."""
    form = await request.post()
    token = form.get("token")
    now, idle = request.app[CLOCK](), request.app[CONFIG].session_idle
    async with request.app[SESSIONS]() as session, session.begin():
        staff_id = None
        if isinstance(token, str):
            staff_id = await web_auth.redeem_link(session, token, now)
        if staff_id is None:  # unknown, used and expired look the same
            return message(request, "link_invalid", status=403)
        if previous := request.cookies.get(COOKIE):
            await web_auth.end_session(session, previous)
        session_id = await web_auth.start_session(session, staff_id, now, idle)
    response = _see_other("/")
    response.set_cookie(
        COOKIE,
        session_id,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=request.app[SECURE],
    )
    return response


async def logout(request: web.Request) -> web.Response:
    """POST /logout: the session ends on the server, the cookie in the browser."""
    async with request.app[SESSIONS]() as session, session.begin():
        await web_auth.end_session(session, request.cookies.get(COOKIE, ""))
    response = _see_other("/signed-out")
    _forget_cookie(request, response)
    return response


async def signed_out(request: web.Request) -> web.Response:
    return render(request, "signed_out.html")


def actor_of(request: web.Request) -> Actor:
    """The signed-in person of a view behind `require_login`."""
    return request[ACTOR]


@web.middleware
async def require_login(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route but the public ones answers 401 without a valid session, before any
    view runs: there is no page, export or made-up path that shows data to a stranger."""
    resource = request.match_info.route.resource
    if resource is not None and resource.name in PUBLIC:
        return await handler(request)
    actor = await _signed_in(request)
    if actor is None:
        return _login_needed(request)
    request[ACTOR] = actor
    return await handler(request)


async def _signed_in(request: web.Request) -> Actor | None:
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    app = request.app
    async with app[SESSIONS]() as session, session.begin():
        return await web_auth.resume_session(
            session, session_id, app[CLOCK](), app[CONFIG].session_idle, app[LANGUAGE]
        )


def _login_needed(request: web.Request) -> web.Response:
    if request.path.endswith(".csv"):
        text = t(request.app[LANGUAGE], "web.login_hint")
        response = web.Response(status=401, text=text, content_type="text/plain")
    else:
        response = message(request, "login_hint", status=401)
    if COOKIE in request.cookies:  # ended or idle too long: the browser may forget it
        _forget_cookie(request, response)
    return response


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _forget_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/", httponly=True, samesite="Lax", secure=request.app[SECURE])
