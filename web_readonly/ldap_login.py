"""Signing in to the reports with the directory password (`web.ldap_login`), for active staff.

The service account finds the person's entry (an escaped filter), then a connection of its own
binds as that entry with the password typed: the directory checks it, the helpdesk never sees
more. An empty password is refused before anything, since LDAP answers an empty-password bind
as an unauthenticated bind that "succeeds". The directory is asked for the entry of every login
(so its being down looks the same to all), but only an active staff member's entry is bound as:
the form cannot be used to try, or lock out, the passwords of the rest of the company.
Every refusal reads the same, and failed attempts are limited per login and per address.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from aiohttp import web
from ldap3 import NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from sqlalchemy import select

from bot.config import LdapConfig, Secret
from importers.ldap import DirectoryError, parse_url, to_person
from storage import web_auth
from storage.models import Staff
from web_readonly.auth import COOKIE
from web_readonly.keys import CLOCK, CONFIG, READ_SESSIONS, SECURE, SESSIONS, TEMPLATES
from web_readonly.render import render

log = logging.getLogger(__name__)

CONNECT_TIMEOUT, RECEIVE_TIMEOUT = 5, 10  # seconds, of each of the two connections
ANSWER_WITHIN = 20.0  # seconds: the form answers by then even if a thread is still waiting
MAX_LOGIN, MAX_PASSWORD = 256, 1024  # longer is no one's: refused without asking anyone
SIZE_LIMIT_EXCEEDED = 4


class Verdict(Enum):
    """What the directory said of a login and password."""

    ACCEPTED = "accepted"
    REFUSED = "refused"  # no single enabled entry, not asked to bind, or a wrong password
    UNREACHABLE = "unreachable"  # down, too slow, or the service account cannot search


class FailedAttempts:
    """Failed sign-ins of the last `window`, per login and per client address, in memory.

    At `per_login` (or `per_address`) of them, every attempt is refused unheard, the right
    password too. An attempt counts as failed from its start, so parallel attempts cannot
    slip past the limit while the directory thinks; `forgive` takes back one that was not
    the person's fault (signed in, or the directory was down)."""

    def __init__(
        self,
        per_login: int = 5,
        per_address: int = 20,
        window: timedelta = timedelta(minutes=5),
    ) -> None:
        self.per_login, self.per_address, self.window = per_login, per_address, window
        self._times: dict[tuple[str, str], deque[datetime]] = {}

    @staticmethod
    def _keys(login: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("login", login.lower()), ("address", address)

    def _recent(self, key: tuple[str, str], now: datetime) -> int:
        times = self._times.get(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        if times is not None and not times:
            del self._times[key]
        return len(times or ())

    def allows(self, login: str, address: str, now: datetime) -> bool:
        by_login, by_address = self._keys(login, address)
        return (
            self._recent(by_login, now) < self.per_login
            and self._recent(by_address, now) < self.per_address
        )

    def record(self, login: str, address: str, now: datetime) -> None:
        if len(self._times) > 1000:  # keys nobody tried again: sweep them now and then
            for key in list(self._times):
                self._recent(key, now)
        for key in self._keys(login, address):
            self._times.setdefault(key, deque()).append(now)

    def forgive(self, login: str, address: str) -> None:
        for key in self._keys(login, address):
            if times := self._times.get(key):
                times.pop()


@dataclass
class DirectorySignIn:
    """What the form needs: the `ldap:` section and the failed attempts so far."""

    ldap: LdapConfig
    attempts: FailedAttempts


SIGN_IN = web.AppKey("ldap_sign_in", DirectorySignIn)


def setup(app: web.Application, ldap: LdapConfig | None) -> None:
    """Turn the form on when `web.ldap_login` is set and there is an `ldap:` section; the
    login hint links to it then. Call before the routes are set up."""
    on = app[CONFIG].ldap_login and ldap is not None
    app[TEMPLATES].globals["ldap_sign_in"] = on
    if on:
        assert ldap is not None
        app[SIGN_IN] = DirectorySignIn(ldap, FailedAttempts())


def enabled(app: web.Application) -> bool:
    """Whether /sign-in exists; without it the path is as unknown as any other."""
    return SIGN_IN in app


# --- the directory (blocking: run in a thread) ------------------------------------------------
def _connection(config: LdapConfig, dn: str, password: str) -> Connection:
    endpoint = parse_url(config.url)
    tls = Tls(validate=ssl.CERT_REQUIRED) if endpoint.use_ssl or endpoint.start_tls else None
    server = Server(endpoint.host, port=endpoint.port, use_ssl=endpoint.use_ssl, tls=tls,
                    get_info=NONE, connect_timeout=CONNECT_TIMEOUT)  # fmt: skip
    # SIMPLE said outright: ldap3 would make an anonymous bind of a missing password
    return Connection(server, dn, password, authentication=SIMPLE, read_only=True,
                      auto_referrals=False, receive_timeout=RECEIVE_TIMEOUT)  # fmt: skip


@contextmanager
def _bound(config: LdapConfig, dn: str, password: str) -> Iterator[Connection | None]:
    """A connection bound as `dn`, or None when the directory refused the password."""
    if not dn or not password:  # an unauthenticated bind: it would "succeed"
        yield None
        return
    conn = _connection(config, dn, password)
    try:
        conn.open()
        if parse_url(config.url).start_tls:
            conn.start_tls()
        yield conn if conn.bind() else None
    finally:
        with suppress(LDAPException):
            conn.unbind()


def find_entry(config: LdapConfig, login: str) -> str | None:
    """The DN of the one enabled entry whose login attribute is `login` (case aside),
    searched as the service account; None when there is none, or more than one."""
    names = [config.attributes["login"], config.attributes.get("disabled")]
    wanted = f"({config.attributes['login']}={escape_filter_chars(login)})"
    with _bound(config, config.bind_dn, config.password.reveal()) as service:
        if service is None:
            raise DirectoryError(f"the service account {config.bind_dn} cannot bind")
        service.search(config.base_dn, f"(&{config.filter}{wanted})", search_scope=SUBTREE,
                       attributes=[n for n in names if n], size_limit=2)  # fmt: skip
        code = service.result.get("result")
        if code not in (0, SIZE_LIMIT_EXCEEDED):  # more than one is an answer too: refused
            why = service.result.get("description")
            raise DirectoryError(f"search under {config.base_dn} failed: {why} ({code})")
        entries = [e for e in service.response or [] if e.get("type") == "searchResEntry"]
    people = [to_person(entry, config.attributes) for entry in entries]
    if len(people) != 1 or people[0] is None or people[0].login != login.lower():
        return None
    return None if people[0].disabled else people[0].dn


def check_password(config: LdapConfig, login: str, password: Secret, *, bind: bool) -> Verdict:
    """Find the login's entry and, when `bind`, bind as it with the password."""
    if not password:
        return Verdict.REFUSED
    try:
        dn = find_entry(config, login)
        if dn is None or not bind:
            return Verdict.REFUSED
        with _bound(config, dn, password.reveal()) as own:
            return Verdict.REFUSED if own is None else Verdict.ACCEPTED
    except (LDAPException, DirectoryError, OSError) as exc:
        reason = " ".join(str(exc).replace(password.reveal(), "***").split())
        log.warning("directory sign-in: LDAP at %s failed: %s", config.url, reason)
        return Verdict.UNREACHABLE


# --- the form ---------------------------------------------------------------------------------
async def sign_in_form(request: web.Request) -> web.Response:
    """GET /sign-in: login and password."""
    return _form(request)


async def sign_in(request: web.Request) -> web.Response:
    """POST /sign-in: the directory checks the password; an active staff member gets the
    same session as by a `report` link."""
    form = await request.post()
    # cut just past the longest accepted: too long is refused, and kept small while counted
    login = _field(form, "login").strip()[: MAX_LOGIN + 1]
    password = Secret(_field(form, "password")[: MAX_PASSWORD + 1])
    attempts, now = request.app[SIGN_IN].attempts, request.app[CLOCK]()
    address = request.remote or ""
    if not attempts.allows(login, address, now):
        log.info("directory sign-in refused unheard: too many failed attempts")
        return _form(request, "wrong", status=401)
    attempts.record(login, address, now)
    verdict, staff_id = await _verify(request, login, password)
    if verdict is Verdict.UNREACHABLE:
        attempts.forgive(login, address)
        return _form(request, "unreachable", status=503)
    if staff_id is None or verdict is not Verdict.ACCEPTED:
        return _form(request, "wrong", status=401)
    response = await _start_session(request, staff_id, login)
    if response is None:  # switched off while the directory was asked
        return _form(request, "wrong", status=401)
    attempts.forgive(login, address)
    return response


def _field(form: Mapping[str, object], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _plausible(login: str, password: Secret) -> bool:
    return 0 < len(login) <= MAX_LOGIN and 0 < len(password.reveal()) <= MAX_PASSWORD


async def _verify(request: web.Request, login: str, password: Secret) -> tuple[Verdict, int | None]:
    """The directory's verdict, and the active staff member of that login (or None)."""
    if not _plausible(login, password):  # an empty password never reaches the directory
        log.info("directory sign-in refused: no login or no password")
        return Verdict.REFUSED, None
    staff_id = await _active_staff(request, login)
    config = request.app[SIGN_IN].ldap
    check = asyncio.to_thread(check_password, config, login, password, bind=staff_id is not None)
    try:
        verdict = await asyncio.wait_for(check, timeout=ANSWER_WITHIN)
    except TimeoutError:
        log.warning("directory sign-in: LDAP at %s did not answer in time", config.url)
        verdict = Verdict.UNREACHABLE
    # what was typed as a login is written only when it is a staff login (not a password)
    who = f"@{login.lower()}" if staff_id is not None else "a login of no active staff member"
    log.info("directory sign-in for %s: %s", who, verdict.value)
    return verdict, staff_id


async def _active_staff(request: web.Request, login: str) -> int | None:
    async with request.app[READ_SESSIONS]() as session:
        # staff logins are kept in lower case (commands/admin.py, importers/ldap.py)
        return await session.scalar(
            select(Staff.id).where(Staff.login == login.lower(), Staff.active)
        )


async def _start_session(request: web.Request, staff_id: int, login: str) -> web.Response | None:
    """The session and its cookie, as `auth.login` makes them; None when the person is no
    longer active."""
    now, idle = request.app[CLOCK](), request.app[CONFIG].session_idle
    async with request.app[SESSIONS]() as session, session.begin():
        still = select(Staff.id).where(Staff.id == staff_id, Staff.active)
        if await session.scalar(still) is None:
            return None
        if previous := request.cookies.get(COOKIE):
            await web_auth.end_session(session, previous)
        session_id = await web_auth.start_session(session, staff_id, now, idle)
    response = web.Response(status=303, headers={"Location": "/"})
    response.set_cookie(COOKIE, session_id, path="/", httponly=True, samesite="Lax",
                        secure=request.app[SECURE])  # fmt: skip
    log.info("@%s signed in to the web page with the directory password", login.lower())
    return response


def _form(request: web.Request, problem: str | None = None, *, status: int = 200) -> web.Response:
    """The form, empty; after a refusal with its one line. Nothing typed is shown again: a
    password typed into the login field must not come back, and every refusal reads alike."""
    context = {"problem": problem, "max_login": MAX_LOGIN}
    return render(request, "sign_in.html", context, status=status)
