"""The LDAP importer against a real slapd: an AD-like schema, a read-only service account
(not the rootdn, which ignores size limits), OpenLDAP's 500-entry limit and 2,000+
generated people with Russian names, disabled accounts, missing phones and homonyms."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from databases import BACKENDS, scratch_database
from slapd import SlapdFailed, SlapdServer, ldif_entry
from sqlalchemy import func, select

from bot.config import Config, LdapConfig, Secret, XmppConfig, parse_config
from importers.ldap import (
    SIZE_LIMIT_EXCEEDED,
    DirectoryError,
    DirectoryPerson,
    ImportCounts,
    connect,
    enroll_staff,
    import_directory,
    parse_url,
    read_directory,
    run_ldap_import,
    search_entries,
    staff_group_members,
)
from importers.phones import parse_phone, split_phones
from storage import migrate
from storage.db import Sessions, make_engine, make_sessions
from storage.models import Customer, CustomerPhone, CustomerWord, Department, Staff, Ticket

NOW = datetime(2026, 11, 25, 2, 0)
LATER = datetime(2026, 11, 26, 2, 0)
PEOPLE = 2_100  # more than four times the server's size limit of 500

# --- generated people -------------------------------------------------------------------------
SURNAMES = ["Иванов", "Петров", "Смирнов", "Кузнецов", "Попов", "Соколов", "Лебедев", "Козлов",
            "Новиков", "Морозов", "Волков", "Алексеев", "Фёдоров", "Семёнов", "Орлов", "Андреев",
            "Макаров", "Никитин", "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев",
            "Григорьев", "Романов", "Воробьёв", "Сергеев", "Кузьмин", "Фролов", "Королёв",
            "Гусев", "Киселёв", "Ильин", "Поляков", "Сорокин", "Ковалёв", "Белов", "Медведев",
            "Жуков", "Петров-Водкин", "Салтыков-Щедрин"]  # fmt: skip
MALE = ["Александр", "Алексей", "Андрей", "Артём", "Борис", "Вадим", "Виктор", "Владимир",
        "Дмитрий", "Евгений", "Иван", "Игорь", "Илья", "Кирилл", "Максим", "Михаил", "Никита",
        "Николай", "Олег", "Павел", "Роман", "Сергей", "Степан", "Фёдор", "Юрий"]  # fmt: skip
FEMALE = ["Анна", "Алёна", "Валентина", "Галина", "Дарья", "Екатерина", "Елена", "Ирина",
          "Ксения", "Людмила", "Марина", "Мария", "Наталья", "Ольга", "Светлана",
          "Юлия"]  # fmt: skip
FATHERS = ["Александрович", "Алексеевич", "Андреевич", "Борисович", "Викторович", "Дмитриевич",
           "Иванович", "Игоревич", "Михайлович", "Николаевич", "Петрович", "Сергеевич",
           "Юрьевич"]  # fmt: skip
DEPARTMENTS = ["Бухгалтерия", "Отдел кадров", "ИТ-отдел", "Юридический отдел", "Склад",
               "Отдел продаж", "Охрана", "Приёмная", "Цех № 3", "Лаборатория"]  # fmt: skip
_LATIN = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                  ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n",
                   "o", "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "",
                   "e", "yu", "ya"], strict=True))  # fmt: skip
Attributes = dict[str, str | int | list[str]]
ENABLED, DISABLED = 512, 514  # AD's NORMAL_ACCOUNT, and with ACCOUNTDISABLE (2)
# DONT_EXPIRE_PASSWORD (65536) beside them: only bit 2 decides
ENABLED_NO_EXPIRY, DISABLED_NO_EXPIRY = 66048, 66050


def latin(text: str) -> str:
    return "".join(_LATIN.get(c, c) for c in text.lower() if c.isalnum())


@dataclass
class Person:
    """One generated directory person and what the import should make of them."""

    login: str  # as the directory spells it (mixed case)
    display: str  # displayName as written, stray spaces included
    email: str | None
    department: str | None
    phones: list[str]  # telephoneNumber values
    account_control: int
    dn: str = ""

    @property
    def key(self) -> str:
        return self.login.lower()

    @property
    def full_name(self) -> str:
        return " ".join(self.display.split())

    @property
    def disabled(self) -> bool:
        return bool(self.account_control & 2)

    def phone_digits(self) -> set[str]:
        raws = [raw for value in self.phones for raw in split_phones(value)]
        return {p.digits for p in (parse_phone(raw) for raw in raws) if p is not None}

    def entry(self) -> Attributes:
        return {"objectClass": ["inetOrgPerson", "user"], "cn": self.key,
                "sn": self.full_name.split()[0], "displayName": self.display,
                "sAMAccountName": self.login, "mail": self.email or "",
                "department": self.department or "", "telephoneNumber": self.phones,
                "userAccountControl": self.account_control, "objectCategory": "person"}  # fmt: skip


def _phones(rng: random.Random, i: int) -> list[str]:
    city = f"{100 + i // 10000:03d}-{i // 100 % 100:02d}-{i % 100:02d}"
    extension = str(1000 + i)
    shape = rng.random()
    if shape < 0.12:
        return []  # nobody knows their number
    if shape < 0.30:
        return [f"+7 (495) {city}", extension]  # two telephoneNumber values
    if shape < 0.40:
        # both in one value; "доб." would be refused: telephoneNumber is PrintableString here
        return [f"8 495 {city.replace('-', '')} ext. {extension}"]
    return [rng.choice([f"+7 (495) {city}", f"8495{city.replace('-', '')}", extension])]


def _name(rng: random.Random) -> str:
    surname, father = rng.choice(SURNAMES), rng.choice(FATHERS)
    if rng.random() < 0.55:
        return f"{surname} {rng.choice(MALE)} {father}"
    female = "-".join(f"{part}а" for part in surname.split("-"))
    return f"{female} {rng.choice(FEMALE)} {father[:-3]}вна"


def _login(name: str, taken: set[str]) -> str:
    surname, first, father = name.split()
    base = f"{latin(surname).capitalize()}.{latin(first)[0].upper()}{latin(father)[0].upper()}"
    login, n = base, 1
    while login.lower() in taken:
        n += 1
        login = f"{base}{n}"
    taken.add(login.lower())
    return login


def generate_people(count: int, seed: int = 7) -> list[Person]:
    rng, taken, people = random.Random(seed), set[str](), list[Person]()
    for i in range(count):
        # every 50th person shares the name of someone before: homonyms, different logins
        name = people[rng.randrange(len(people))].full_name if i % 50 == 49 else _name(rng)
        display = f"  {name.replace(' ', '   ', 1)} " if i % 40 == 7 else name
        control = rng.choice([ENABLED, ENABLED, ENABLED_NO_EXPIRY]) if rng.random() > 0.09 else (
            rng.choice([DISABLED, DISABLED_NO_EXPIRY]))  # fmt: skip
        login = _login(name, taken)
        email = None if rng.random() < 0.05 else f"{login.lower()}@company.test"
        department = None if rng.random() < 0.04 else rng.choice(DEPARTMENTS)
        people.append(Person(login, display, email, department, _phones(rng, i), control))
    return people


@dataclass
class Directory:
    """Generated people loaded under their own OU of the shared slapd."""

    server: SlapdServer
    ou: str
    people: list[Person]
    extra: list[str] = field(default_factory=list)  # DNs the filter must leave out

    @property
    def config(self) -> LdapConfig:
        return self.server.ldap_config(base_dn=self.ou)

    @property
    def active(self) -> list[Person]:
        return [p for p in self.people if not p.disabled]


def load_directory(server: SlapdServer, count: int, seed: int = 7) -> Directory:
    """An OU of `count` generated people plus entries the default AD filter must skip."""
    name = f"run-{uuid.uuid4().hex[:10]}"
    ou = f"ou={name},{server.people_dn}"
    people = generate_people(count, seed)
    entries = [ldif_entry(ou, {"objectClass": "organizationalUnit", "ou": name})]
    for person in people:
        person.dn = f"cn={person.key},{ou}"
        entries.append(ldif_entry(person.dn, person.entry()))
    classes = ["inetOrgPerson", "user"]
    computer: Attributes = {"objectClass": classes, "cn": "ws-0042", "sn": "ws",
                            "sAMAccountName": "WS-0042$", "objectCategory": "computer"}  # fmt: skip
    no_login: Attributes = {"objectClass": classes, "cn": "nologin", "sn": "Безлогинов",
                            "displayName": "Безлогинов Пётр",
                            "objectCategory": "person"}  # fmt: skip
    extra = [f"cn=ws-0042,{ou}", f"cn=nologin,{ou}"]
    entries += [ldif_entry(extra[0], computer), ldif_entry(extra[1], no_login)]
    server.add(entries)
    return Directory(server, ou, people, extra=extra)


def add_group(server: SlapdServer, name: str, members: list[str]) -> str:
    """A groupOfNames over LDAP, after its members, so the memberof overlay fills memberOf."""
    dn = f"cn={name},{server.groups_dn}"
    server.add(ldif_entry(dn, {"objectClass": "groupOfNames", "cn": name, "member": members}))
    return dn


@pytest.fixture(scope="module")
def directory(slapd: SlapdServer) -> Iterator[Directory]:
    """2,100 people shared by the tests that only read."""
    started = time.perf_counter()
    loaded = load_directory(slapd, PEOPLE)
    print(f"\nloaded {PEOPLE} people into slapd over LDAP in {time.perf_counter() - started:.2f} s")
    yield loaded


@pytest.fixture(
    params=[pytest.param(b, marks=[pytest.mark.postgres] if b == "postgresql" else [])
            for b in BACKENDS]
)  # fmt: skip
async def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Sessions]:
    """A migrated, empty database: a SQLite file, or a PostgreSQL database of its own."""
    async with scratch_database(request.param, tmp_path) as url:
        engine = make_engine(url)
        await migrate.upgrade(engine)
        try:
            yield make_sessions(engine)
        finally:
            await engine.dispose()


async def customers(sessions: Sessions) -> dict[str, Customer]:
    async with sessions() as session:
        return {c.login or "": c for c in await session.scalars(select(Customer))}


async def count(sessions: Sessions, model: type[object]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# --- the harness ------------------------------------------------------------------------------
def test_the_harness_never_takes_another_server_for_its_own(
    slapd: SlapdServer, tmp_path: Path
) -> None:
    twin = SlapdServer(tmp_path / "twin", port=slapd.port)  # the same tree and passwords
    with pytest.raises(SlapdFailed, match="exited with code 1"):
        twin.start()
    assert twin.pid is None and slapd.pid is not None


# --- reading the directory --------------------------------------------------------------------
def test_the_service_account_is_not_the_rootdn(slapd: SlapdServer, directory: Directory) -> None:
    # the rootdn ignores every size limit: a test bound as it would prove nothing
    assert directory.config.bind_dn == slapd.service_dn != slapd.root_dn


def test_a_paged_search_reads_everyone_past_the_size_limit(directory: Directory) -> None:
    started = time.perf_counter()
    people = {p.login: p for p in read_directory(directory.config)}
    print(f"\nread {len(people)} people in {time.perf_counter() - started:.2f} s")
    assert len(people) == PEOPLE  # not 500; the computer and the entry without login left out
    assert not {p.dn for p in people.values()} & set(directory.extra)
    for expected in directory.people:
        got = people[expected.key]
        assert (got.full_name, got.email, got.department, got.disabled, got.dn) == (
            expected.full_name, expected.email, expected.department, expected.disabled,
            expected.dn,
        )  # fmt: skip
    assert sum(p.disabled for p in people.values()) == PEOPLE - len(directory.active) > 50


def test_multi_valued_and_missing_attributes(directory: Directory) -> None:
    people = {p.login: p for p in read_directory(directory.config)}
    two_values = next(p for p in directory.people if len(p.phones) == 2)
    assert people[two_values.key].phones == two_values.phones
    in_one_value = next(p for p in directory.people if "ext." in "".join(p.phones))
    assert len(people[in_one_value.key].phones) == 2  # the city number and the extension
    assert any(not p.phones for p in people.values())
    assert any(p.email is None for p in people.values())
    assert any(p.department is None for p in people.values())
    spaced = next(p for p in directory.people if p.display != p.full_name)
    assert people[spaced.key].full_name == spaced.full_name


def test_userAccountControl_bit_2_alone_means_disabled(directory: Directory) -> None:
    people = {p.login: p for p in read_directory(directory.config)}
    by_control = {c: [people[p.key].disabled for p in directory.people if p.account_control == c]
                  for c in (ENABLED, DISABLED, ENABLED_NO_EXPIRY, DISABLED_NO_EXPIRY)}  # fmt: skip
    assert all(by_control[DISABLED]) and all(by_control[DISABLED_NO_EXPIRY])
    assert not any(by_control[ENABLED]) and not any(by_control[ENABLED_NO_EXPIRY])
    assert all(by_control.values())  # each kind occurs


def test_a_page_larger_than_the_limit_is_fine_with_prtotal_unlimited(
    directory: Directory,
) -> None:
    config = directory.server.ldap_config(base_dn=directory.ou, page_size=1000)
    assert len(read_directory(config)) == PEOPLE


def test_a_plain_search_stops_at_the_limit_and_that_is_an_error(directory: Directory) -> None:
    config = directory.config
    with connect(config) as conn:
        # what ldap3 does by itself: 500 entries, result 4, no exception
        conn.search(config.base_dn, config.filter, attributes=["sAMAccountName"])
        assert conn.result["result"] == SIZE_LIMIT_EXCEEDED
        assert len([e for e in conn.response if e["type"] == "searchResEntry"]) == 500
        with pytest.raises(DirectoryError) as error:
            list(search_entries(conn, config.base_dn, config.filter, ["sAMAccountName"],
                                page_size=None))  # fmt: skip
    assert error.value.code == SIZE_LIMIT_EXCEEDED
    message = str(error.value)
    assert "sizeLimitExceeded" in message and "after 500 entries" in message
    assert "\n" not in message


def test_a_paged_search_the_server_cuts_short_is_an_error(tmp_path: Path) -> None:
    """Without size.prtotal even paged results stop at the hard limit: the import must
    fail, not go on with 500 people and deactivate everyone else."""
    server = SlapdServer(tmp_path, size_limit="size.soft=500 size.hard=500")
    people = generate_people(600, seed=11)
    entries = []
    for person in people:
        person.dn = f"cn={person.key},{server.people_dn}"
        entries.append(ldif_entry(person.dn, person.entry()))
    with server:
        server.add(entries)
        with pytest.raises(DirectoryError, match="sizeLimitExceeded"):
            read_directory(server.ldap_config())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"password": Secret("wrong")}, "invalidCredentials"),
        ({"base_dn": "ou=Nowhere,dc=example,dc=test"}, "noSuchObject"),
        ({"url": "ldap://127.0.0.1:1"}, "Connection refused"),
        ({"url": "ldap://127.0.0.1/?tls"}, "the only option is ldap://host/?starttls"),
        ({"filter": "(objectClass=user"}, "filter"),
    ],
)
def test_other_failures_are_one_line_errors(
    directory: Directory, change: dict[str, object], expected: str
) -> None:
    config = directory.server.ldap_config(**{"base_dn": directory.ou, **change})
    with pytest.raises(DirectoryError) as error:
        read_directory(config)
    assert expected in str(error.value) and "\n" not in str(error.value)
    assert "service-secret" not in str(error.value)


def test_url_convention_for_tls() -> None:
    assert parse_url("ldaps://dc.company.test") == ("dc.company.test", 636, True, False)
    assert parse_url("ldap://dc.company.test/?starttls") == ("dc.company.test", 389, False, True)
    assert parse_url("LDAP://127.0.0.1:3389") == ("127.0.0.1", 3389, False, False)
    with pytest.raises(DirectoryError, match="TLS already"):
        parse_url("ldaps://dc/?starttls")
    # the convention passes bot.yaml's own check of ldap.url
    config = parse_config({"xmpp": {"jid": "bot@company.test", "password": "x"},
                           "ldap": {"url": "ldap://dc.company.test/?starttls", "bind_dn": "cn=x",
                                    "password": "y", "base_dn": "dc=company"}}, {})  # fmt: skip
    assert config.ldap is not None and parse_url(config.ldap.url).start_tls


@pytest.mark.parametrize("how", ["ldaps", "starttls"])
def test_tls_is_verified(directory: Directory, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    server = directory.server
    url = server.ldaps_url if how == "ldaps" else f"{server.url}/?starttls"
    config = server.ldap_config(base_dn=directory.ou, url=url)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(DirectoryError, match="certificate verify failed"):
        read_directory(config)  # a self-signed certificate nobody trusts
    monkeypatch.setenv("SSL_CERT_FILE", str(server.certificate))
    assert len(read_directory(config)) == PEOPLE


# --- importing --------------------------------------------------------------------------------
async def test_import_of_2000_people_then_a_run_that_changes_nothing(
    directory: Directory, sessions: Sessions
) -> None:
    started = time.perf_counter()
    people = await asyncio.to_thread(read_directory, directory.config)
    read = time.perf_counter() - started
    dry = await import_directory(sessions, people, now=NOW, dry_run=True)
    assert await count(sessions, Customer) == 0  # the dry run changed nothing
    started = time.perf_counter()
    counts = await import_directory(sessions, people, now=NOW)
    write = time.perf_counter() - started
    print(f"\n{PEOPLE} people: read {read:.2f} s, write {write:.2f} s")
    assert counts == dry == ImportCounts(added=PEOPLE)

    got = await customers(sessions)
    assert len(got) == PEOPLE
    assert {c.login for c in got.values() if c.active} == {p.key for p in directory.active}
    for person in directory.people:
        customer = got[person.key]
        assert (customer.full_name, customer.email, customer.department, customer.source,
                customer.active, customer.updated_at) == (
            person.full_name, person.email, person.department, "ldap", not person.disabled, NOW
        )  # fmt: skip
    _homonyms_stay_apart(directory, got)
    expected_phones = sum(len(p.phone_digits()) for p in directory.people)
    assert await count(sessions, CustomerPhone) == expected_phones > PEOPLE
    assert await count(sessions, CustomerWord) > 2 * PEOPLE

    again = await import_directory(sessions, people, now=LATER)
    assert again == ImportCounts(unchanged=PEOPLE)
    assert all(c.updated_at == NOW for c in (await customers(sessions)).values())


def _homonyms_stay_apart(directory: Directory, got: dict[str, Customer]) -> None:
    by_name: dict[str, list[str]] = {}
    for person in directory.people:
        by_name.setdefault(person.full_name, []).append(person.key)
    shared = [logins for logins in by_name.values() if len(logins) > 1]
    assert len(shared) >= PEOPLE // 50
    for logins in shared:  # one customer each, under one name key
        assert len({got[login].id for login in logins}) == len(logins)
        assert len({got[login].name_key for login in logins}) == 1


async def test_changes_in_the_directory(slapd: SlapdServer, sessions: Sessions) -> None:
    """A moved, a renamed, a disabled, a removed and a returning person, through
    run_ldap_import as `helpdesk import ldap` calls it; tickets survive."""
    directory = load_directory(slapd, 2_000, seed=23)
    config = Config(xmpp=XmppConfig(jid="bot@company.test", password=Secret("x")),
                    ldap=directory.config)  # fmt: skip
    assert await run_ldap_import(config, sessions, now=NOW) == ImportCounts(added=2_000)
    active = directory.active
    moved, renamed, disabled, removed, phoned = active[:5]
    ticket_id = await _ticket_for(sessions, removed.key)

    slapd.replace(moved.dn, "department", "Новый отдел")
    slapd.replace(renamed.dn, "displayName", "Ёлкина-Сидорова Анна Петровна")
    slapd.replace(disabled.dn, "userAccountControl", str(DISABLED))
    slapd.replace(phoned.dn, "telephoneNumber", "+7 (812) 555-01-02")
    slapd.delete(removed.dn)
    expected = ImportCounts(updated=3, deactivated=2, unchanged=2_000 - 5)
    assert await run_ldap_import(config, sessions, now=LATER, dry_run=True) == expected
    assert (await customers(sessions))[moved.key].department == moved.department  # dry run
    assert await run_ldap_import(config, sessions, now=LATER) == expected

    got = await customers(sessions)
    assert got[moved.key].department == "Новый отдел"
    assert got[renamed.key].full_name == "Ёлкина-Сидорова Анна Петровна"
    assert await _words(sessions, got[renamed.key].id) == {"анна", "елкина", "петровна",
                                                           "сидорова"}  # fmt: skip
    assert not got[disabled.key].active and not got[removed.key].active
    assert got[removed.key].updated_at == LATER  # kept, not deleted
    assert "+7 (812) 555-01-02" in (got[phoned.key].phones or "")
    async with sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.customer_id == got[removed.key].id
    assert await run_ldap_import(config, sessions, now=LATER) == ImportCounts(unchanged=1_999)

    slapd.add(ldif_entry(removed.dn, removed.entry()))
    slapd.replace(disabled.dn, "userAccountControl", str(ENABLED))
    assert await run_ldap_import(config, sessions, now=LATER) == ImportCounts(
        updated=2, unchanged=1_998
    )
    got = await customers(sessions)
    assert got[removed.key].active and got[disabled.key].active


async def test_only_directory_customers_are_deactivated(
    directory: Directory, sessions: Sessions
) -> None:
    async with sessions() as session, session.begin():
        session.add(Customer(login="walkin", full_name="Гость Иван", source="phonebook"))
        session.add(Customer(full_name="Без Логина", source="manual"))
    people = [p for p in read_directory(directory.config) if not p.disabled]
    counts = await import_directory(sessions, people[:10], now=NOW)
    assert counts == ImportCounts(added=10)
    counts = await import_directory(sessions, people[5:10], now=LATER)
    assert counts == ImportCounts(deactivated=5, unchanged=5)
    got = await customers(sessions)
    assert got["walkin"].active and got[""].active


async def test_a_customer_with_the_same_login_is_taken_over(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        session.add(Customer(login="petrov.ii", full_name="Петров И.", source="manual"))
    person = DirectoryPerson("petrov.ii", "Петров Иван Ильич", "petrov@company.test", "Склад",
                             ["4521"], False, "cn=petrov.ii")  # fmt: skip
    assert await import_directory(sessions, [person], now=NOW) == ImportCounts(updated=1)
    customer = (await customers(sessions))["petrov.ii"]
    assert (customer.full_name, customer.source, customer.phones) == (
        "Петров Иван Ильич", "ldap", "4521")  # fmt: skip
    assert await count(sessions, Customer) == 1


async def _ticket_for(sessions: Sessions, login: str) -> int:
    async with sessions() as session, session.begin():
        department = Department(short="it", name="IT")
        session.add(department)
        await session.flush()
        staff = Staff(login="op", jid="op@company.test", role="user",
                      home_department_id=department.id)  # fmt: skip
        session.add(staff)
        customer = await session.scalar(select(Customer).where(Customer.login == login))
        assert customer is not None
        await session.flush()
        ticket = Ticket(text="принтер не печатает", customer_id=customer.id, creator_id=staff.id,
                        department_id=department.id)  # fmt: skip
        session.add(ticket)
        await session.flush()
        return ticket.id


async def _words(sessions: Sessions, customer_id: int) -> set[str]:
    async with sessions() as session:
        query = select(CustomerWord.word).where(CustomerWord.customer_id == customer_id)
        return set(await session.scalars(query))


# --- the staff whitelist ----------------------------------------------------------------------
def test_staff_group_members(directory: Directory) -> None:
    enabled = directory.active[:4]
    off = next(p for p in directory.people if p.disabled)
    name = f"Служба поддержки {uuid.uuid4().hex[:6]}"  # AD groups here have Russian names
    group = add_group(directory.server, name, [p.dn for p in [*enabled, off]])
    config = directory.server.ldap_config(base_dn=directory.ou, staff_group=group)
    assert staff_group_members(config) == {p.key for p in enabled}
    assert staff_group_members(directory.server.ldap_config(staff_group=None)) == set()


async def _department(sessions: Sessions) -> int:
    async with sessions() as session, session.begin():
        department = Department(short="support", name="Поддержка")
        session.add(department)
        await session.flush()
        return department.id


async def test_enroll_staff(sessions: Sessions) -> None:
    home = await _department(sessions)
    members = {"ivanov.ii", "petrova.aa"}

    async def enroll(jid: str, domain: str = "company.test") -> Staff | None:
        async with sessions() as session, session.begin():
            return await enroll_staff(session, jid, xmpp_domain=domain, members=members,
                                      default_department_id=home)  # fmt: skip

    first = await enroll("Ivanov.II@Company.Test/phone")
    assert first is not None
    assert (first.login, first.jid, first.role, first.home_department_id, first.active) == (
        "ivanov.ii", "ivanov.ii@company.test", "user", home, True)  # fmt: skip
    again = await enroll("ivanov.ii@company.test/laptop")
    assert again is not None and again.id == first.id  # once
    assert await enroll("ivanov.ii@gmail.test") is None  # another domain
    assert await enroll("sidorov.pp@company.test") is None  # not in the group
    assert await enroll("company.test") is None  # no local part
    assert await count(sessions, Staff) == 1

    async with sessions() as session, session.begin():
        staff = await session.get(Staff, first.id)
        assert staff is not None
        staff.active = False  # an admin switched them off: the whitelist does not undo it
        session.add(Staff(login="petrova.aa", jid="anna@elsewhere.test", role="user",
                          home_department_id=home))  # fmt: skip
    assert await enroll("ivanov.ii@company.test") is None
    assert await enroll("petrova.aa@company.test") is None  # the login is someone else's
    assert await count(sessions, Staff) == 2
