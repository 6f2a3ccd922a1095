"""Signing in to the reports with the directory password (web.ldap_login), against a real slapd.

Threat: someone gets into the reports, or learns something, through the password form: with
a wrong or empty password (LDAP takes an empty-password bind for an unauthenticated one that
"succeeds"), as a directory user who is not staff, as staff switched off or disabled in the
directory, by injecting LDAP filter syntax into the login, by guessing many passwords, by
telling refusals apart, by reading the password back from a log or a page, through another
site's form, or by stalling the server with a directory that does not answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse, DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer
from dialog import DialogBot
from slapd import SlapdServer, ldif_entry
from web_page import Client, get, page_clients, signed_in_as

from bot.config import ConfigError, LdapConfig, Secret, WebConfig, parse_config
from bot.servers import free_port
from web_readonly import ldap_login
from web_readonly.app import init_app
from web_readonly.ldap_login import SIGN_IN, FailedAttempts, Verdict, check_password, find_entry

NOW = datetime(2026, 11, 25, 9, 0)
PUBLIC_URL = "https://helpdesk.example.test"
WRONG = "Wrong login or password"
UNREACHABLE = "The directory is not reachable; type &#39;report&#39; in chat for a sign-in link."
HINT = "Type &#39;report&#39; to the helpdesk bot in chat to get a sign-in link."
LINK = re.compile(r"https://helpdesk\.example\.test/login/([A-Za-z0-9_-]{43})")
# sAMAccountName as the directory spells it -> password; the staff logins are lower case
PASSWORDS = {
    "w1": "Пароль w1: 42!",  # Cyrillic and spaces: sent as UTF-8
    "Head_IT": "head-secret",
    "w2": "w2-secret",  # staff, but disabled in the directory
    "hr1": "hr1-secret",  # staff, to be switched off
    "outsider": "outsider-secret",  # in the directory, not staff
}
ENABLED, DISABLED = 512, 514

MakeClient = Callable[..., Awaitable[Client]]


# --- the directory and the page ---------------------------------------------------------------


def person(dn: str, login: str, password: str, account_control: int = ENABLED) -> str:
    return ldif_entry(dn, {"objectClass": ["inetOrgPerson", "user"], "cn": dn[3:].split(",")[0],
                           "sn": login, "sAMAccountName": login, "userPassword": password,
                           "userAccountControl": account_control,
                           "objectCategory": "person"})  # fmt: skip


@pytest.fixture(scope="module")
def directory(slapd: SlapdServer) -> Iterator[LdapConfig]:
    """The people above under an OU of their own, plus `operator` twice (an ambiguous login)."""
    name = f"signin-{uuid.uuid4().hex[:10]}"
    ou = f"ou={name},{slapd.people_dn}"
    entries = [ldif_entry(ou, {"objectClass": "organizationalUnit", "ou": name})]
    for login, password in PASSWORDS.items():
        control = DISABLED if login == "w2" else ENABLED
        entries.append(person(f"cn={login.lower()},{ou}", login, password, control))
    entries += [person(f"cn=operator-{n},{ou}", "operator", "op-secret") for n in "ab"]
    slapd.add(entries)
    yield slapd.ldap_config(base_dn=ou)


@pytest.fixture
def bot(dialog_bot: DialogBot) -> DialogBot:
    dialog_bot.core.web_url = PUBLIC_URL
    return dialog_bot


@pytest.fixture
async def make_client(bot: DialogBot, directory: LdapConfig) -> AsyncIterator[MakeClient]:
    """`await make_client(ldap_login=..., ldap=...)`: the page on the bot's database and
    clock, with no cookie jar (each request carries exactly the cookie a test gives)."""
    default: Any = directory
    async with page_clients() as open_client:

        async def make(ldap_login: bool = True, ldap: LdapConfig | None = default) -> Client:
            config = WebConfig(public_url=PUBLIC_URL, ldap_login=ldap_login)
            app = init_app(bot.sessions, config, clock=bot.clock, language="en", ldap=ldap)
            return await open_client(app)

        yield make


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client()


async def sign_in(
    client: Client, login: str, password: str, headers: dict[str, str] | None = None
) -> ClientResponse:
    data = {"login": login, "password": password}
    return await client.post("/sign-in", data=data, headers=headers, allow_redirects=False)


async def refusal(response: ClientResponse, password: str) -> str:
    """The refusal page, checked (the one line, no cookie, no password), for comparing."""
    text = await response.text()
    assert response.status == 401, text
    assert "Set-Cookie" not in response.headers
    assert WRONG in text and text.count(WRONG) == 1
    assert not password or password.lower() not in text.lower()
    assert "value=" not in text  # nothing typed comes back
    return text


# --- signing in -------------------------------------------------------------------------------


async def test_staff_sign_in_with_the_directory_password(client: Client) -> None:
    form = await get(client, "/sign-in")
    assert form.status == 200 and "Set-Cookie" not in form.headers
    page = await form.text()
    assert '<form class="filters" method="post" action="/sign-in">' in page
    assert 'name="login"' in page and '<input type="password" name="password"' in page

    response = await sign_in(client, "w1", PASSWORDS["w1"])
    assert (response.status, response.headers["Location"]) == (303, "/")
    cookie = response.cookies["hd_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["secure"]
    home = await get(client, "/", cookie.value)
    assert home.status == 200
    text = await home.text()
    assert "Signed in as @w1" in text and "<title>Dashboard · Helpdesk</title>" in text


@pytest.mark.parametrize(
    ("typed", "staff"), [("W1", "w1"), ("head_it", "head_it"), ("  HEAD_IT ", "head_it")]
)
async def test_the_login_matches_whatever_its_case(client: Client, typed: str, staff: str) -> None:
    password = PASSWORDS["w1" if staff == "w1" else "Head_IT"]
    response = await sign_in(client, typed, password)
    assert response.status == 303
    assert await signed_in_as(client, response.cookies["hd_session"].value) == staff


async def test_a_new_sign_in_ends_the_browser_s_earlier_session(client: Client) -> None:
    first = (await sign_in(client, "w1", PASSWORDS["w1"])).cookies["hd_session"].value
    again = await sign_in(
        client, "head_it", PASSWORDS["Head_IT"], {"Cookie": f"hd_session={first}"}
    )
    assert again.status == 303
    assert await signed_in_as(client, first) is None
    assert await signed_in_as(client, again.cookies["hd_session"].value) == "head_it"


async def test_every_refusal_reads_the_same(bot: DialogBot, client: Client) -> None:
    await bot.core.run_admin("staff", ["off", "hr1"])
    attempts = {
        "wrong password": ("w1", "not-the-password"),
        "another's password": ("w1", PASSWORDS["Head_IT"]),
        "unknown login": ("nobody", "whatever"),
        "empty password": ("w1", ""),
        "empty login": ("", PASSWORDS["w1"]),
        "directory user, not staff": ("outsider", PASSWORDS["outsider"]),
        "staff switched off": ("hr1", PASSWORDS["hr1"]),
        "disabled in the directory": ("w2", PASSWORDS["w2"]),
        "two entries of one login": ("operator", "op-secret"),
        "too long": ("w1" * 200, PASSWORDS["w1"]),
    }
    pages = {}
    for case, (login, password) in attempts.items():
        pages[case] = await refusal(await sign_in(client, login, password), password)
    first = pages["wrong password"]
    assert [case for case, page in pages.items() if page != first] == []


@pytest.mark.parametrize(
    "login",
    [
        "*)(uid=*",
        "*",
        "w*",
        "w1*",
        "*1",
        "w1)(sAMAccountName=*",
        "w1)(|(objectClass=*",
        "w1\\",
        "w1\x00",
    ],
)
async def test_filter_syntax_in_the_login_finds_no_one(
    client: Client, directory: LdapConfig, login: str
) -> None:
    """Escaped, these match no entry (unescaped, `w1*` would find w1's entry and
    `w1)(|(objectClass=*` would break the filter); the entry's own login must match too."""
    assert await asyncio.to_thread(find_entry, directory, login) is None
    await refusal(await sign_in(client, login, PASSWORDS["w1"]), PASSWORDS["w1"])
    assert await asyncio.to_thread(find_entry, directory, "W1") == f"cn=w1,{directory.base_dn}"


@pytest.fixture
def binds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The DNs of the LDAP connections the form opens, in order."""
    opened: list[str] = []
    real = ldap_login.Connection

    def spy(server: object, user: str, password: str, **kwargs: object) -> object:
        opened.append(user)
        return real(server, user, password, **kwargs)

    monkeypatch.setattr(ldap_login, "Connection", spy)
    return opened


async def test_an_empty_password_is_refused_before_any_bind(
    client: Client, directory: LdapConfig, binds: list[str]
) -> None:
    """An empty-password bind is an unauthenticated bind in LDAP; it must never be sent."""
    await refusal(await sign_in(client, "w1", ""), "")
    assert check_password(directory, "w1", Secret(""), bind=True) is Verdict.REFUSED
    with ldap_login._bound(directory, f"cn=w1,{directory.base_dn}", "") as conn:
        assert conn is None
    assert binds == []
    assert (await sign_in(client, "w1", PASSWORDS["w1"])).status == 303
    assert binds == [directory.bind_dn, f"cn=w1,{directory.base_dn}"]  # service, then own


async def test_only_active_staff_are_bound_as(
    client: Client, directory: LdapConfig, binds: list[str]
) -> None:
    """The form cannot try (or lock out) a password of someone who is not staff."""
    await refusal(await sign_in(client, "outsider", PASSWORDS["outsider"]), "")
    assert binds == [directory.bind_dn]  # the entry was looked up, never bound as


# --- too many attempts ------------------------------------------------------------------------


async def test_five_failures_lock_a_login_for_five_minutes(bot: DialogBot, client: Client) -> None:
    for _ in range(5):
        await refusal(await sign_in(client, "w1", "guess"), "guess")
    locked = await refusal(await sign_in(client, "W1", PASSWORDS["w1"]), PASSWORDS["w1"])
    assert locked == await refusal(await sign_in(client, "w1", "guess"), "guess")  # alike
    other = await sign_in(client, "head_it", PASSWORDS["Head_IT"])  # same address, other login
    assert other.status == 303

    bot.clock.now = NOW + timedelta(minutes=5)
    assert (await sign_in(client, "w1", PASSWORDS["w1"])).status == 303


async def test_twenty_failures_lock_an_address(bot: DialogBot, client: Client) -> None:
    for n in range(20):
        await refusal(await sign_in(client, f"nobody{n}", "guess"), "guess")
    await refusal(await sign_in(client, "head_it", PASSWORDS["Head_IT"]), PASSWORDS["Head_IT"])
    bot.clock.now = NOW + timedelta(minutes=5, seconds=1)
    assert (await sign_in(client, "head_it", PASSWORDS["Head_IT"])).status == 303


async def test_attempts_at_once_count_before_the_directory_answers(
    client: Client, directory: LdapConfig, binds: list[str]
) -> None:
    answers = await asyncio.gather(*(sign_in(client, "w1", f"guess{n}") for n in range(8)))
    assert [a.status for a in answers] == [401] * 8
    await refusal(await sign_in(client, "w1", PASSWORDS["w1"]), PASSWORDS["w1"])
    assert binds.count(f"cn=w1,{directory.base_dn}") == 5  # three never reached the directory


def test_the_failed_attempts_forget_old_ones_and_forgive() -> None:
    attempts = FailedAttempts(per_login=2, per_address=3, window=timedelta(minutes=5))
    for _ in range(2):
        assert attempts.allows("W1", "10.0.0.1", NOW)
        attempts.record("W1", "10.0.0.1", NOW)
    assert not attempts.allows("w1", "10.0.0.2", NOW)  # the login, from anywhere
    assert attempts.allows("w2", "10.0.0.1", NOW)
    attempts.forgive("w1", "10.0.0.1")
    assert attempts.allows("w1", "10.0.0.2", NOW)
    attempts.record("w2", "10.0.0.1", NOW)
    attempts.record("w3", "10.0.0.1", NOW)
    assert not attempts.allows("w4", "10.0.0.1", NOW)  # the address, any login
    assert attempts.allows("w4", "10.0.0.1", NOW + timedelta(minutes=5))


# --- the directory down or slow ---------------------------------------------------------------


async def test_a_directory_that_is_down_says_so_and_costs_no_attempt(
    client: Client, directory: LdapConfig
) -> None:
    client.app[SIGN_IN].ldap = replace(directory, url=f"ldap://127.0.0.1:{free_port()}")
    for login in ["w1"] * 6 + ["nobody"]:  # the same answer for staff and strangers
        response = await sign_in(client, login, PASSWORDS["w1"])
        text = await response.text()
        assert response.status == 503 and "Set-Cookie" not in response.headers
        assert UNREACHABLE in text and WRONG not in text and PASSWORDS["w1"] not in text
    client.app[SIGN_IN].ldap = directory
    assert (await sign_in(client, "w1", PASSWORDS["w1"])).status == 303


async def test_a_silent_directory_never_stalls_the_page(
    client: Client, directory: LdapConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that accepts and never answers: the bind waits in a thread, with timeouts."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(1 << 16):  # until the client gives up and closes
            pass
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(ldap_login, "RECEIVE_TIMEOUT", 2)  # the thread's own bound
    monkeypatch.setattr(ldap_login, "ANSWER_WITHIN", 0.5)  # the page answers before that
    client.app[SIGN_IN].ldap = replace(directory, url=f"ldap://127.0.0.1:{port}")
    try:
        started = time.monotonic()
        pending = asyncio.ensure_future(sign_in(client, "w1", PASSWORDS["w1"]))
        await asyncio.sleep(0.1)
        other = await get(client, "/signed-out")  # served while the directory is silent
        assert other.status == 200 and not pending.done()
        response = await pending
        assert response.status == 503 and UNREACHABLE in await response.text()
        assert time.monotonic() - started < 1.5
    finally:
        server.close()
        await server.wait_closed()


# --- nothing to read back ---------------------------------------------------------------------


async def test_the_password_is_never_logged(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    password = PASSWORDS["w1"]
    with caplog.at_level(logging.DEBUG):  # every logger, SQL parameters included
        assert (await sign_in(client, "w1", password)).status == 303
        await refusal(await sign_in(client, "w1", password + "x"), password)
        access = await access_lines(caplog, 2)
    assert password not in caplog.text
    assert all(password not in repr(r.args) for r in caplog.records)
    assert '"POST /sign-in HTTP/1.1" 303' in access[0]
    assert '"POST /sign-in HTTP/1.1" 401' in access[1]
    sign_ins = [r.getMessage() for r in caplog.records if r.name == "web_readonly.ldap_login"]
    assert "@w1 signed in to the web page with the directory password" in sign_ins
    assert "directory sign-in for @w1: refused" in sign_ins

    caplog.clear()
    with caplog.at_level(logging.INFO):  # a password typed into the login field too
        await refusal(await sign_in(client, password, password), password)
        await access_lines(caplog, 1)
    assert password.lower() not in caplog.text.lower()
    assert "directory sign-in for a login of no active staff member: refused" in caplog.text


async def access_lines(caplog: pytest.LogCaptureFixture, count: int) -> list[str]:
    """The access log's lines once there are `count` (written after the response went)."""
    for _ in range(100):
        lines = [r.getMessage() for r in caplog.records if r.name == "web_readonly.access"]
        if len(lines) >= count:
            break
        await asyncio.sleep(0.01)
    return lines


# --- off, and the way in ----------------------------------------------------------------------


async def link_cookie(bot: DialogBot, client: Client) -> str:
    found = LINK.search(await bot.say("w1", "report") or "")
    assert found is not None
    response = await client.post("/login", data={"token": found[1]}, allow_redirects=False)
    return response.cookies["hd_session"].value


@pytest.mark.parametrize(("ldap_login", "with_ldap"), [(False, True), (True, False)])
async def test_without_the_option_sign_in_is_an_unknown_path(
    bot: DialogBot, make_client: MakeClient, directory: LdapConfig, ldap_login: bool,
    with_ldap: bool,
) -> None:  # fmt: skip
    client = await make_client(ldap_login=ldap_login, ldap=directory if with_ldap else None)
    unknown = await get(client, "/no-such-page")
    for response in (await get(client, "/sign-in"), await sign_in(client, "w1", PASSWORDS["w1"])):
        assert response.status == unknown.status == 401 and "Set-Cookie" not in response.headers
        assert await response.text() == await unknown.text()
    assert 'href="/sign-in"' not in await unknown.text()
    cookie = await link_cookie(bot, client)
    signed_in = await get(client, "/sign-in", cookie)
    assert signed_in.status == 404 and "There is no such page." in await signed_in.text()


async def test_the_login_hint_links_to_the_form(client: Client) -> None:
    hint = await get(client, "/tickets")
    assert hint.status == 401
    text = await hint.text()
    assert HINT in text and '<a href="/sign-in">Sign in with your password</a>' in text


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
)
async def test_another_site_cannot_post_the_form(client: Client, headers: dict[str, str]) -> None:
    refused = await sign_in(client, "w1", PASSWORDS["w1"], headers)
    assert refused.status == 403 and "Set-Cookie" not in refused.headers
    assert "This request came from another site and was refused." in await refused.text()
    same_site = {"Origin": PUBLIC_URL, "Sec-Fetch-Site": "same-origin"}
    assert (await sign_in(client, "w1", PASSWORDS["w1"], same_site)).status == 303


async def test_the_form_is_in_the_page_s_language(bot: DialogBot, directory: LdapConfig) -> None:
    app = init_app(bot.sessions, WebConfig(ldap_login=True), clock=bot.clock, ldap=directory)
    async with TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as client:
        text = await (await client.get("/sign-in")).text()
        assert "Вход по паролю" in text and "Пароль" in text
        refused = await sign_in(client, "w1", "guess")
        assert "Неверный логин или пароль" in await refused.text()


# --- the key ----------------------------------------------------------------------------------


def test_the_key_is_off_by_default_and_needs_the_ldap_section() -> None:
    minimal = {"xmpp": {"jid": "helpdesk@localhost", "password": "x"}}
    assert parse_config(minimal, {}).web.ldap_login is False
    with pytest.raises(ConfigError) as caught:
        parse_config({**minimal, "web": {"ldap_login": True}}, {})
    assert str(caught.value) == "web.ldap_login: needs the ldap: section (the directory to ask)"
    ldap = {"url": "ldaps://dc.example", "bind_dn": "cn=x", "password": "y", "base_dn": "dc=x"}
    on = parse_config({**minimal, "ldap": ldap, "web": {"ldap_login": True}}, {})
    assert on.web.ldap_login is True
    from_env = parse_config({**minimal, "ldap": ldap}, {"HELPDESK_WEB__LDAP_LOGIN": "yes"})
    assert from_env.web.ldap_login is True
    with pytest.raises(ConfigError, match=r"web\.ldap_login: expected true or false, got 'sure'"):
        parse_config({**minimal, "ldap": ldap, "web": {"ldap_login": "sure"}}, {})
