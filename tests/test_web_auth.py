"""The web page's sign-in and its defences.

Threat: someone reads the helpdesk's data through the web page without being the staff
member it belongs to: with no login at all, with a link that was used, expired, forwarded
or fetched by a chat client's preview, with a stale session, with a token copied from a log
file, through another site's forms or frames, or by getting script into a page.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import ClientResponse, DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer
from databases import BACKENDS, scratch_database
from dialog import DialogBot, make_dialog
from sqlalchemy import select
from web_page import Client, get, page_clients, signed_in_as

from bot.config import WebConfig
from storage.models import WebLink, WebSession
from web_readonly.app import init_app
from web_readonly.security import CONTENT_SECURITY_POLICY

NOW = datetime(2026, 11, 25, 9, 0)
PUBLIC_URL = "https://helpdesk.example.test"
LINK = re.compile(
    r"Your link to the reports \(valid 10 min, works once\): "
    r"https://helpdesk\.example\.test/login/([A-Za-z0-9_-]{43})"
)
INVALID = "This link is not valid any more: type &#39;report&#39; in chat for a new one."
PLAIN_HINT = "Type 'report' to the helpdesk bot in chat to get a sign-in link."
HINT = PLAIN_HINT.replace("'", "&#39;")  # as an HTML page shows it
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
def bot(dialog_bot: DialogBot) -> DialogBot:
    dialog_bot.core.web_url = PUBLIC_URL
    return dialog_bot


@pytest.fixture
async def make_client(bot: DialogBot) -> AsyncIterator[MakeClient]:
    """`await make_client(public_url=..., secure=...)`: a test client of the web page on the
    bot's database and clock. Cookies are handled by hand (no cookie jar) so each test says
    exactly which session a request carries."""
    async with page_clients() as open_client:

        async def make(public_url: str = PUBLIC_URL, secure: bool | None = None) -> Client:
            config = WebConfig(public_url=public_url)
            app = init_app(bot.sessions, config, clock=bot.clock, secure=secure, language="en")
            return await open_client(app)

        yield make


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client()


async def token_for(bot: DialogBot, login: str, command: str = "report") -> str:
    reply = await bot.say(login, command) or ""
    found = LINK.fullmatch(reply)
    assert found is not None, reply
    return found[1]


async def post_token(client: Client, token: str, cookie: str | None = None) -> ClientResponse:
    headers = {"Cookie": f"hd_session={cookie}"} if cookie else {}
    return await client.post(
        "/login", data={"token": token}, headers=headers, allow_redirects=False
    )


async def sign_in(client: Client, bot: DialogBot, login: str) -> str:
    """Through the chat and the sign-in button; returns the session cookie's value."""
    response = await post_token(client, await token_for(bot, login))
    assert (response.status, response.headers["Location"]) == (303, "/")
    return response.cookies["hd_session"].value


# --- the link -------------------------------------------------------------------------------


@pytest.mark.parametrize("login", ["w1", "head_it", "admin"])  # user, coordinator, admin
async def test_every_role_gets_a_link_and_signs_in(
    bot: DialogBot, client: Client, login: str
) -> None:
    token = await token_for(bot, login)
    form = await get(client, f"/login/{token}")
    assert form.status == 200 and "Set-Cookie" not in form.headers
    page = await form.text()
    assert '<form method="post" action="/login">' in page
    assert f'<input type="hidden" name="token" value="{token}">' in page

    signed = await post_token(client, token)
    assert (signed.status, signed.headers["Location"]) == (303, "/")
    cookie = signed.cookies["hd_session"].value
    home = await get(client, "/", cookie)
    assert home.status == 200
    text = await home.text()
    assert f"Signed in as @{login}" in text
    assert '<form method="post" action="/logout">' in text
    assert "<title>Dashboard · Helpdesk</title>" in text


@pytest.mark.parametrize("word", ["отчёт", "отчет", "REPORT"])
async def test_the_command_has_russian_names(bot: DialogBot, word: str) -> None:
    await token_for(bot, "w1", word)


async def test_only_the_hash_of_the_token_is_stored(bot: DialogBot) -> None:
    token = await token_for(bot, "w1")
    async with bot.sessions() as session:
        link = (await session.scalars(select(WebLink))).one()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (link.created_at, link.expires_at, link.used_at) == (
        NOW,
        NOW + timedelta(minutes=10),
        None,
    )
    assert token not in repr(vars(link))


async def test_without_a_public_url_there_is_no_link(bot: DialogBot) -> None:
    bot.core.web_url = None
    assert await bot.say("w1", "report") == "The web page is not configured."
    refused = await bot.say("w1", "report #3") or ""
    assert refused.startswith("This command takes no #N.")


async def test_a_preview_fetch_does_not_spend_the_link(bot: DialogBot, client: Client) -> None:
    token = await token_for(bot, "w1")
    for _ in range(3):  # chat clients fetch links to draw previews
        assert (await get(client, f"/login/{token}")).status == 200
    async with bot.sessions() as session:
        assert await session.scalar(select(WebLink.used_at)) is None
    assert (await post_token(client, token)).status == 303


async def test_a_link_works_once(bot: DialogBot, client: Client) -> None:
    token = await token_for(bot, "w1")
    assert (await post_token(client, token)).status == 303
    again = await post_token(client, token)
    assert again.status == 403 and "Set-Cookie" not in again.headers
    assert INVALID in await again.text()


async def test_two_clicks_at_once_sign_in_once(bot: DialogBot, client: Client) -> None:
    token = await token_for(bot, "w1")
    answers = await asyncio.gather(*(post_token(client, token) for _ in range(4)))
    assert sorted(r.status for r in answers) == [303, 403, 403, 403]


async def test_a_link_expires_at_exactly_ten_minutes(bot: DialogBot, client: Client) -> None:
    first, second = await token_for(bot, "w1"), await token_for(bot, "w1")
    bot.clock.now = NOW + timedelta(minutes=10) - timedelta(microseconds=1)
    assert (await post_token(client, first)).status == 303
    bot.clock.now = NOW + timedelta(minutes=10)
    expired = await post_token(client, second)
    assert expired.status == 403


async def test_used_expired_and_unknown_links_look_the_same(bot: DialogBot, client: Client) -> None:
    used, expired = await token_for(bot, "w1"), await token_for(bot, "w1")
    await post_token(client, used)
    bot.clock.now = NOW + timedelta(minutes=11)
    pages = [
        await post_token(client, token)
        for token in (used, expired, "A" * 43, "", "x" * 10_000, "' OR 1=1 --")
    ]
    assert {r.status for r in pages} == {403}
    texts = {await r.text() for r in pages}
    assert len(texts) == 1 and INVALID in texts.pop()
    no_token = await client.post("/login", data={}, allow_redirects=False)
    assert no_token.status == 403


async def test_a_link_signs_in_only_its_own_person(bot: DialogBot, client: Client) -> None:
    w2_cookie = await sign_in(client, bot, "w2")
    w1_token = await token_for(bot, "w1")
    # w1's link opened in a browser where w2 is signed in: w1, and w2's session ends
    switched = await post_token(client, w1_token, cookie=w2_cookie)
    assert switched.status == 303
    assert await signed_in_as(client, switched.cookies["hd_session"].value) == "w1"
    assert await signed_in_as(client, w2_cookie) is None


async def test_a_switched_off_person_cannot_sign_in_nor_stay(
    bot: DialogBot, client: Client
) -> None:
    cookie = await sign_in(client, bot, "w1")
    token = await token_for(bot, "w1")
    await bot.core.run_admin("staff", ["off", "w1"])
    assert (await post_token(client, token)).status == 403
    assert (await get(client, "/", cookie)).status == 401


# --- the session ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("public_url", "secure", "flagged"),
    [
        ("https://helpdesk.example.test", None, True),
        ("http://helpdesk.example.test", None, False),
        ("https://helpdesk.example.test", False, False),
        ("http://helpdesk.example.test", True, True),
    ],
)
async def test_the_cookie_flags(
    bot: DialogBot, make_client: MakeClient, public_url: str, secure: bool | None, flagged: bool
) -> None:
    client = await make_client(public_url, secure)
    response = await post_token(client, await token_for(bot, "w1"))
    [header] = response.headers.getall("Set-Cookie")
    flags = {part.strip().split("=")[0].lower(): part for part in header.split(";")[1:]}
    assert "httponly" in flags and flags["samesite"].strip() == "SameSite=Lax"
    assert flags["path"].strip() == "Path=/"
    assert ("secure" in flags) is flagged
    assert "max-age" not in flags and "expires" not in flags  # ends with the browser too
    value = response.cookies["hd_session"].value
    async with bot.sessions() as session:
        stored = (await session.scalars(select(WebSession))).one()
    assert stored.session_hash == hashlib.sha256(value.encode()).hexdigest()


async def test_a_session_ends_after_thirty_idle_minutes(bot: DialogBot, client: Client) -> None:
    cookie = await sign_in(client, bot, "w1")
    for _ in range(3):  # sliding: each request starts the idle time again
        bot.clock.now += timedelta(minutes=29)
        assert await signed_in_as(client, cookie) == "w1"
    bot.clock.now += timedelta(minutes=30)
    expired = await get(client, "/", cookie)
    assert expired.status == 401 and HINT in await expired.text()
    assert "Max-Age=0" in expired.headers["Set-Cookie"]  # the browser may forget it
    bot.clock.now -= timedelta(minutes=30)  # and it never comes back
    assert (await get(client, "/", cookie)).status == 401


async def test_sign_out(bot: DialogBot, client: Client) -> None:
    cookie = await sign_in(client, bot, "w1")
    out = await client.post(
        "/logout", headers={"Cookie": f"hd_session={cookie}"}, allow_redirects=False
    )
    assert (out.status, out.headers["Location"]) == (303, "/signed-out")
    assert "Max-Age=0" in out.headers["Set-Cookie"]
    assert (await get(client, "/", cookie)).status == 401
    page = await get(client, "/signed-out")
    assert page.status == 200
    assert "You are signed out. Type &#39;report&#39; in chat" in await page.text()
    async with bot.sessions() as session:
        assert (await session.scalars(select(WebSession))).all() == []


# --- nothing without a session --------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/tickets", "/customers?q=ivanov", "/made/up", "/static/../tickets"]
)
@pytest.mark.parametrize("cookie", [None, "forged", "x" * 5000])
async def test_no_page_without_a_session(client: Client, path: str, cookie: str | None) -> None:
    response = await get(client, path, cookie)
    assert response.status == 401
    assert response.content_type == "text/html"
    text = await response.text()
    assert HINT in text and "Signed in as" not in text and "/logout" not in text


@pytest.mark.parametrize("path", ["/export/tickets.csv", "/reports/calls.csv?from=2026-01-01"])
async def test_no_export_without_a_session(client: Client, path: str) -> None:
    response = await get(client, path)
    assert (response.status, response.content_type) == (401, "text/plain")
    assert await response.text() == PLAIN_HINT


async def test_sign_out_needs_a_session_too(client: Client) -> None:
    response = await client.post("/logout", allow_redirects=False)
    assert response.status == 401


# --- headers, logs, escaping, other sites ---------------------------------------------------


async def test_security_headers_on_every_answer(bot: DialogBot, client: Client) -> None:
    cookie = await sign_in(client, bot, "w1")
    answers = {
        "200 page": await get(client, "/", cookie),
        "200 login form": await get(client, "/login/abc"),
        "200 style": await get(client, "/static/style.css"),
        "401": await get(client, "/tickets"),
        "403": await post_token(client, "used-or-not"),
        "404": await get(client, "/no-such-page", cookie),
        "404 static": await get(client, "/static/nope.css"),
        "303": await post_token(client, await token_for(bot, "w2")),
    }
    expected = {"200 page": 200, "200 login form": 200, "200 style": 200, "401": 401,
                "403": 403, "404": 404, "404 static": 404, "303": 303}  # fmt: skip
    assert {k: r.status for k, r in answers.items()} == expected
    for name, response in answers.items():
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
        if response.content_type == "text/html":
            assert response.headers["Cache-Control"] == "no-store", name
    assert "no-store" not in answers["200 style"].headers.get("Cache-Control", "")
    assert "There is no such page." in await answers["404"].text()


async def test_templates_carry_no_inline_script_or_style(bot: DialogBot, client: Client) -> None:
    cookie = await sign_in(client, bot, "w1")
    for path in ("/", "/tickets", "/signed-out", "/login/abc"):
        text = await (await get(client, path, cookie)).text()
        assert "<script" not in text and "<style" not in text and "style=" not in text
        assert '<link rel="stylesheet" href="/static/style.css">' in text


async def test_the_access_log_never_shows_a_token(
    bot: DialogBot, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    token = await token_for(bot, "w1")
    with caplog.at_level(logging.INFO, logger="web_readonly.access"):
        await get(client, f"/login/{token}")
        await get(client, f"/LOGIN/{token}?x={token}")
        await post_token(client, token)
        await get(client, "/tickets?q=%0Afake")
        lines = await access_lines(caplog, "web_readonly.access", 4)
    assert token not in "\n".join(caplog.text.splitlines() + lines)
    assert '"GET /login/*** HTTP/1.1" 200' in lines[0]
    assert '"GET /login/*** HTTP/1.1" 401' in lines[1]  # no route, so not public
    assert '"POST /login HTTP/1.1" 303' in lines[2]
    assert '"GET /tickets?q=%0Afake HTTP/1.1" 401' in lines[3]


async def test_even_aiohttp_s_own_access_log_masks_tokens(
    bot: DialogBot, caplog: pytest.LogCaptureFixture
) -> None:
    """Served by a runner made without `make_runner`: aiohttp's default access log."""
    app = init_app(bot.sessions, WebConfig(public_url=PUBLIC_URL), clock=bot.clock)
    token = await token_for(bot, "w1")
    async with TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as client:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            await client.get(f"/login/{token}", headers={"Referer": f"/login/{token}"})
            [line] = await access_lines(caplog, "aiohttp.access", 1)
    assert token not in caplog.text and token not in line
    assert '"GET /login/*** HTTP/1.1" 200' in line and '"/login/***"' in line


async def access_lines(caplog: pytest.LogCaptureFixture, logger: str, count: int) -> list[str]:
    """The access log's lines, once the server has written `count` of them (it logs
    after the response went out, so possibly after the client has read it)."""
    for _ in range(100):
        lines = [r.getMessage() for r in caplog.records if r.name == logger]
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.01)
    return lines


async def test_hostile_text_is_escaped(client: Client) -> None:
    hostile = '"><img src=x onerror=alert(1)><script>alert(2)<'
    response = await get(client, "/login/" + hostile.replace("<", "%3C").replace(">", "%3E"))
    assert response.status == 200
    text = await response.text()
    assert "<img" not in text and "<script" not in text
    assert 'value="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;' in text


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
)
async def test_another_site_cannot_post_our_forms(
    bot: DialogBot, client: Client, headers: dict[str, str]
) -> None:
    token = await token_for(bot, "w1")
    refused = await client.post(
        "/login", data={"token": token}, headers=headers, allow_redirects=False
    )
    assert refused.status == 403 and "Set-Cookie" not in refused.headers
    same_site = {"Origin": PUBLIC_URL, "Sec-Fetch-Site": "same-origin"}
    accepted = await client.post(
        "/login", data={"token": token}, headers=same_site, allow_redirects=False
    )
    assert accepted.status == 303  # the refused post did not spend the link
    cookie = accepted.cookies["hd_session"].value
    out = await client.post(
        "/logout",
        headers={**headers, "Cookie": f"hd_session={cookie}"},
        allow_redirects=False,
    )
    assert out.status == 403 and await signed_in_as(client, cookie) == "w1"


# --- both databases -------------------------------------------------------------------------


@pytest.fixture(
    params=[
        pytest.param(b, marks=[pytest.mark.postgres] if b == "postgresql" else []) for b in BACKENDS
    ]
)
async def backend_bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DialogBot]:
    async with scratch_database(request.param, tmp_path) as url:
        bot = await make_dialog(url)
        bot.clock.now = NOW
        bot.core.web_url = PUBLIC_URL
        try:
            yield bot
        finally:
            await bot.engine.dispose()


async def test_the_whole_flow_on_each_database(backend_bot: DialogBot) -> None:
    bot = backend_bot
    app = init_app(bot.sessions, WebConfig(public_url=PUBLIC_URL), clock=bot.clock, language="en")
    client: Client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    try:
        token = await token_for(bot, "head_it")
        assert (await get(client, f"/login/{token}")).status == 200
        answers = await asyncio.gather(*(post_token(client, token) for _ in range(3)))
        assert sorted(r.status for r in answers) == [303, 403, 403]
        [signed] = [r for r in answers if r.status == 303]
        cookie = signed.cookies["hd_session"].value
        bot.clock.now += timedelta(minutes=20)
        assert await signed_in_as(client, cookie) == "head_it"
        bot.clock.now += timedelta(minutes=30)
        assert (await get(client, "/", cookie)).status == 401
    finally:
        await client.close()
