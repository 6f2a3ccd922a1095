"""Customers and the staff whitelist from Active Directory (or any LDAP directory): read with
ldap3 in a worker thread, page by page, and upserted by login in one transaction.

URLs: `ldaps://host[:636]` is TLS from the start; `ldap://host[:389]/?starttls` upgrades to
TLS before the bind or fails; plain `ldap://` sends the password in clear (loopback tests).
Certificates are verified against the system's trust store (or $SSL_CERT_FILE)."""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config, LdapConfig
from importers.names import name_key
from importers.phones import parse_phone, split_phones
from storage.clock import utcnow
from storage.customers import save_search_data_many, set_name
from storage.db import Sessions
from storage.models import Customer, CustomerPhone, Role, Staff

log = logging.getLogger(__name__)

SOURCE = "ldap"
ACCOUNTDISABLE = 2  # userAccountControl's "account disabled" bit
SIZE_LIMIT_EXCEEDED = 4
PAGED_RESULTS = "1.2.840.113556.1.4.319"
_CONNECT_TIMEOUT, _RECEIVE_TIMEOUT = 10, 120


class DirectoryError(Exception):
    """The directory could not be read in full; str(e) is one line saying why."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class DirectoryPerson:
    """One person as the directory describes them; `login` is lower-cased."""

    login: str
    full_name: str
    email: str | None
    department: str | None
    phones: list[str]
    disabled: bool
    dn: str


@dataclass
class ImportCounts:
    """What an import did (or, in a dry run, would do) to the customers."""

    added: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0


# --- connecting -------------------------------------------------------------------------------
class Endpoint(NamedTuple):
    host: str
    port: int
    use_ssl: bool  # TLS from the start
    start_tls: bool


def parse_url(url: str) -> Endpoint:
    """Where and how to connect, from `ldaps://host`, `ldap://host/?starttls` or `ldap://host`."""
    parts = urlsplit(url)
    scheme, query = parts.scheme.lower(), parts.query.lower()
    if scheme not in ("ldap", "ldaps") or not parts.hostname:
        raise DirectoryError(f"ldap.url {url!r}: expected ldap://host or ldaps://host")
    if query not in ("", "starttls") or parts.path not in ("", "/"):
        raise DirectoryError(f"ldap.url {url!r}: the only option is ldap://host/?starttls")
    if scheme == "ldaps" and query:
        raise DirectoryError(f"ldap.url {url!r}: ldaps:// is TLS already, drop ?starttls")
    try:
        port = parts.port or (636 if scheme == "ldaps" else 389)
    except ValueError:
        raise DirectoryError(f"ldap.url {url!r}: bad port") from None
    return Endpoint(parts.hostname, port, scheme == "ldaps", query == "starttls")


def _server(endpoint: Endpoint) -> Server:
    tls = Tls(validate=ssl.CERT_REQUIRED) if endpoint.use_ssl or endpoint.start_tls else None
    return Server(endpoint.host, port=endpoint.port, use_ssl=endpoint.use_ssl, tls=tls,
                  get_info=NONE, connect_timeout=_CONNECT_TIMEOUT)  # fmt: skip


@contextmanager
def connect(config: LdapConfig) -> Iterator[Connection]:
    """A connection bound as the service account; any ldap3 failure inside the block
    becomes a DirectoryError."""
    endpoint = parse_url(config.url)
    where = f"{endpoint.host}:{endpoint.port}"
    conn = Connection(_server(endpoint), config.bind_dn, config.password.reveal(), read_only=True,
                      auto_referrals=False, receive_timeout=_RECEIVE_TIMEOUT)  # fmt: skip
    try:
        conn.open()
        if endpoint.start_tls:
            conn.start_tls()
        if not conn.bind():
            reason = conn.result.get("description") or conn.last_error
            raise DirectoryError(f"bind to {where} as {config.bind_dn} failed: {reason}")
        yield conn
    except LDAPException as exc:
        # ldap3 wraps socket and TLS errors in the reprs of tuples
        reason = " ".join(re.sub(r"""^[("']+|(?:['"],?\))+$""", "", str(exc)).split())
        raise DirectoryError(f"LDAP at {where}: {reason or type(exc).__name__}") from exc
    finally:
        with suppress(LDAPException):  # after a failed TLS handshake the socket is gone
            conn.unbind()


# --- searching --------------------------------------------------------------------------------
def _check(result: Mapping[str, Any], base: str, received: int) -> None:
    """Raise unless the search (page) succeeded: ldap3 hands back a truncated result
    without raising, which must never become a silently partial import."""
    code = result.get("result")
    if code == 0:
        return
    if code == SIZE_LIMIT_EXCEEDED:
        stop = f"stopped at its size limit (sizeLimitExceeded) after {received} entries"
        advice = "page the search (ldap.page_size) and let paged results pass the limit"
        raise DirectoryError(f"the directory {stop} under {base}: nothing imported; {advice}", code)
    message = " ".join((result.get("message") or "").split())
    detail = f"{result.get('description')} ({code}){f': {message}' if message else ''}"
    raise DirectoryError(f"search under {base} failed: {detail}", code)


def search_entries(
    conn: Connection, base: str, search_filter: str, attributes: list[str], *,
    page_size: int | None, scope: str = SUBTREE,
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """The entries found, page by page (`page_size` None: one plain search); every page's
    result is checked, so a size limit or any other failure raises DirectoryError."""
    cookie, received = None, 0
    while True:
        conn.search(base, search_filter, search_scope=scope, attributes=attributes,
                    paged_size=page_size, paged_cookie=cookie)  # fmt: skip
        entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
        received += len(entries)
        _check(conn.result, base, received)
        yield from entries
        control = (conn.result.get("controls") or {}).get(PAGED_RESULTS) or {}
        cookie = (control.get("value") or {}).get("cookie")
        if page_size is None or not cookie:
            return


# --- entries into people ----------------------------------------------------------------------
def _values(attributes: Mapping[str, Any], name: str | None) -> list[str]:
    value = attributes.get(name) if name else None
    items = value if isinstance(value, list | tuple) else [] if value is None else [value]
    texts = [i.decode("utf-8", "replace") if isinstance(i, bytes) else str(i) for i in items]
    return [t.strip() for t in texts if t.strip()]


def is_disabled(values: list[str]) -> bool:
    """A number is AD's userAccountControl (bit 2: disabled); TRUE/FALSE spell it out
    (nsAccountLock); any other value present (pwdAccountLockedTime) means locked."""
    text = values[0].lower() if values else "0"
    if text.lstrip("-").isdigit():
        return bool(int(text) & ACCOUNTDISABLE)
    return text not in ("false", "no", "off")


def to_person(entry: Mapping[str, Any], mapping: Mapping[str, str]) -> DirectoryPerson | None:
    """The person an entry describes; None when it has no login to key them by."""
    attributes = entry.get("attributes") or {}

    def values(field: str) -> list[str]:
        return _values(attributes, mapping.get(field))

    logins, names, emails, departments = map(values, ("login", "full_name", "email", "department"))
    if not logins:
        log.warning("directory entry %s has no %s: skipped", entry.get("dn"), mapping.get("login"))
        return None
    login = logins[0].lower()
    full_name = " ".join(names[0].split()) if names else login
    email, department = emails[0] if emails else None, departments[0] if departments else None
    phones = list(dict.fromkeys(p for v in values("phone") for p in split_phones(v)))
    disabled = is_disabled(values("disabled"))
    return DirectoryPerson(login, full_name, email, department, phones, disabled, entry["dn"])


def _requested(config: LdapConfig) -> list[str]:
    if not config.attributes.get("login"):  # the other fields may be left out
        raise DirectoryError("ldap.attributes has no login: nothing to key customers by")
    return sorted({name for name in config.attributes.values() if name})


def read_directory(config: LdapConfig) -> list[DirectoryPerson]:
    """Everyone `config.filter` finds under `config.base_dn` (blocking: run it in a thread)."""
    attributes = _requested(config)
    with connect(config) as conn:
        entries = search_entries(conn, config.base_dn, config.filter, attributes,
                                 page_size=config.page_size)  # fmt: skip
        people = [p for p in (to_person(e, config.attributes) for e in entries) if p]
    log.info("read %d people from %s", len(people), config.base_dn)
    return people


# --- the customers ----------------------------------------------------------------------------
async def _customers_by_login(session: AsyncSession) -> dict[str, Customer]:
    found = await session.scalars(select(Customer).where(Customer.login.is_not(None)))
    return {(customer.login or "").lower(): customer for customer in found}


async def _phones_by_customer(session: AsyncSession) -> dict[int, dict[str, str]]:
    """Each keyed customer's phones as {digits: raw}, in the order they were written."""
    rows = await session.execute(
        select(CustomerPhone.customer_id, CustomerPhone.digits, CustomerPhone.raw)
        .join(Customer, Customer.id == CustomerPhone.customer_id)
        .where(Customer.login.is_not(None))
        .order_by(CustomerPhone.id)
    )
    phones: dict[int, dict[str, str]] = {}
    for customer_id, digits, raw in rows:
        phones.setdefault(customer_id, {})[digits] = raw
    return phones


def _clip(text: str | None) -> str | None:
    return text[:255] if text else None


def _new_customer(person: DirectoryPerson, now: datetime) -> Customer:
    customer = Customer(login=person.login[:128], email=_clip(person.email),
                        department=_clip(person.department), active=not person.disabled,
                        source=SOURCE, updated_at=now)  # fmt: skip
    set_name(customer, person.full_name[:255])
    return customer


def _added_phones(current: dict[str, str], phones: list[str], region: str) -> list[str] | None:
    """The customer's phones with the directory's missing ones added; None when none is
    missing. Phones from elsewhere (the phone book) are kept: a phone row has no source."""
    missing: dict[str, str] = {}
    for raw in phones:
        parsed = parse_phone(raw, region)
        if parsed is not None and parsed.digits not in current:
            missing.setdefault(parsed.digits, raw)
    return [*current.values(), *missing.values()] if missing else None


def _update(
    customer: Customer, person: DirectoryPerson, current: dict[str, str], region: str
) -> tuple[str, list[str] | None]:
    """Bring a customer in line with the directory: the count it goes to, and the phones
    to rewrite (None: they stay as they are)."""
    full_name = " ".join(person.full_name[:255].split())
    email, department = _clip(person.email), _clip(person.department)
    renamed = name_key(full_name) != customer.name_key
    wanted = (full_name, email, department, SOURCE, not person.disabled)
    fields_differ = wanted != (customer.full_name, customer.email, customer.department,
                               customer.source, customer.active)  # fmt: skip
    phones = _added_phones(current, person.phones, region)
    if not fields_differ and phones is None and not renamed:
        return "unchanged", None
    outcome = "deactivated" if customer.active and person.disabled else "updated"
    set_name(customer, full_name)
    customer.email, customer.department, customer.source = email, department, SOURCE
    customer.active = not person.disabled
    if phones is None and renamed:
        phones = list(current.values())  # the name words need rewriting, the phones stay
    return outcome, phones


async def _apply(
    session: AsyncSession, people: list[DirectoryPerson], now: datetime, region: str
) -> ImportCounts:
    existing = await _customers_by_login(session)
    phones = await _phones_by_customer(session)
    counts, seen = ImportCounts(), set[str]()
    search_data: list[tuple[Customer, list[str]]] = []  # name words and phones to (re)write
    for person in people:
        if person.login in seen:
            log.warning("%s is in the directory twice (%s): first kept", person.login, person.dn)
            continue
        seen.add(person.login)
        customer = existing.get(person.login)
        if customer is not None:
            outcome, rewrite = _update(customer, person, phones.get(customer.id, {}), region)
        else:
            customer, outcome, rewrite = _new_customer(person, now), "added", [*person.phones]
            session.add(customer)
        setattr(counts, outcome, getattr(counts, outcome) + 1)
        if outcome != "unchanged":
            customer.updated_at = now
        if rewrite is not None:
            search_data.append((customer, rewrite))
    for login, customer in existing.items():  # gone from the directory: inactive, history kept
        if login not in seen and customer.source == SOURCE and customer.active:
            customer.active, customer.updated_at = False, now
            counts.deactivated += 1
    await session.flush()  # new customers get their ids
    await _write_search_data(session, search_data, region)
    return counts


async def _write_search_data(
    session: AsyncSession, items: list[tuple[Customer, list[str]]], region: str
) -> None:
    """Name words and phones through storage.customers, all customers at once."""
    with session.no_autoflush:  # the customers' updates in one batch at the end
        await save_search_data_many(session, items, region)


async def import_directory(
    sessions: Sessions, people: list[DirectoryPerson], *, now: datetime,
    region: str = "RU", dry_run: bool = False,
) -> ImportCounts:  # fmt: skip
    """Upsert customers by login (source "ldap"); disabled people and directory customers
    who vanished become inactive, never deleted. A dry run counts, then rolls back."""
    async with sessions() as session:
        counts = await _apply(session, people, now, region)
        if dry_run:
            await session.rollback()
        else:
            await session.commit()
    return counts


async def run_ldap_import(
    config: Config, sessions: Sessions, *, dry_run: bool = False, now: datetime | None = None
) -> ImportCounts:
    """Read the directory of `config.ldap` off the event loop, then import it."""
    if config.ldap is None:
        raise DirectoryError("the configuration has no ldap: section")
    people = await asyncio.to_thread(read_directory, config.ldap)
    return await import_directory(sessions, people, now=now or utcnow(), dry_run=dry_run)


# --- the staff whitelist ----------------------------------------------------------------------
def staff_group_members(config: LdapConfig) -> set[str]:
    """Logins (lower case) of the enabled people whose memberOf names `config.staff_group`
    (AD keeps memberOf; OpenLDAP needs its memberof overlay). Nested groups are not
    followed. Blocking: run it in a thread."""
    group = config.staff_group
    if not group:
        return set()
    member_filter = f"(&{config.filter}(memberOf={escape_filter_chars(group)}))"
    with connect(config) as conn:
        entries = search_entries(conn, config.base_dn, member_filter, _requested(config),
                                 page_size=config.page_size)  # fmt: skip
        people = [to_person(e, config.attributes) for e in entries]
    return {p.login for p in people if p is not None and not p.disabled}


async def enroll_staff(
    session: AsyncSession, jid: str, *, xmpp_domain: str, members: set[str],
    default_department_id: int,
) -> Staff | None:  # fmt: skip
    """The staff member a whitelisted stranger becomes on first contact: a JID on the
    company's XMPP domain whose local part is a staff-group member's login is enrolled
    as an active `user` of the default department. Everyone else gets None, and so does
    someone an admin switched off or whose login another JID already holds."""
    bare = jid.split("/", 1)[0].lower()
    local, _, domain = bare.rpartition("@")
    if not local or domain != xmpp_domain.lower() or local not in {m.lower() for m in members}:
        return None
    query = select(Staff).where((Staff.jid == bare) | (Staff.login == local))
    if found := {staff.jid: staff for staff in await session.scalars(query)}:
        known = found.get(bare)
        return known if known is not None and known.active else None
    staff = Staff(login=local, jid=bare, role=Role.USER.value,
                  home_department_id=default_department_id, active=True)  # fmt: skip
    session.add(staff)
    await session.flush()
    return staff
