"""`who`, `from <who>` and the chat's current customer (commands.md): phones however
typed, Cyrillic name fragments, ё/е, word order, the card and its counts; the seeded
and the migrated customer bases are searchable the same way."""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from databases import PREFIX, drop_pg_database, pg_server_url, scratch_database
from dialog import Clock, DialogBot, copy_of, make_dialog
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot import seed
from storage.customers import save_search_data, set_name
from storage.db import Sessions, make_engine, make_sessions
from storage.migrate import alembic_config
from storage.models import Base, Customer, CustomerPhone, CustomerWord, Ticket

NOW = datetime(2026, 11, 25, 9, 0)  # make_dialog's clock
# full name, login, department, room, phones, active; ids c1..c7 in this order
CUSTOMERS = [
    ("Иванов Иван Петрович", "ivanov", "Бухгалтерия", "214",
     ["+7 (495) 123-45-67", "4521"], True),
    ("Иванова Мария Сергеевна", "ivanova", "Отдел кадров", "105",
     ["+7 495 765-43-21", "4522"], True),
    ("Петров Иван Иванович", "petrov", "Склад", "3", ["4523"], True),
    ("Сидоров Пётр Алексеевич", "sidorov", "Логистика", None, ["8 (812) 555-12-34"], True),
    ("Фёдорова Алёна Семёновна", "fedorova", "Юридический отдел", "310", ["4525"], True),
    ("Абрамов Олег Семенович", "abramov", "Склад", "7", ["4526"], False),
    ("Ли Анна Викторовна", "li", None, None, ["4527"], True),
]  # fmt: skip
IVANOV_CARD = """Иванов Иван Петрович (c1)
Login: ivanov
Department: Бухгалтерия
Room: 214
Phone: +7 (495) 123-45-67, 4521
E-mail: ivanov@company.example
Active
Calls: 0, tickets: 0"""
IVANOV_LINE = "Иванов Иван Петрович — Бухгалтерия, room 214, +7 (495) 123-45-67, 4521 (c1)"
IVANOVA_LINE = "Иванова Мария Сергеевна — Отдел кадров, room 105, +7 495 765-43-21, 4522 (c2)"
PETROV_LINE = "Петров Иван Иванович — Склад, room 3, 4523 (c3)"
IVANOV_NOW = " (Иванов Иван Петрович, the current customer)"
PETROV_NOW = " (Петров Иван Иванович, the current customer)"
THREE = "c1 Иванов Иван Петрович, c2 Иванова Мария Сергеевна, c3 Петров Иван Иванович"


async def add_customers(sessions: Sessions, customers: list[tuple[object, ...]]) -> None:
    """Customers as the importers write them: storage/customers.py."""
    async with sessions() as session, session.begin():
        for name, login, dept, room, phones, active in customers:
            customer = Customer(
                login=login, email=f"{login}@company.example", department=dept, room=room,
                active=active,
            )  # fmt: skip
            set_name(customer, str(name))
            session.add(customer)
            await session.flush()
            assert isinstance(phones, list)
            await save_search_data(session, customer, phones)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Staff and the customers above, built once; each test gets a copy."""
    path = tmp_path_factory.mktemp("who") / "customers.db"

    async def build() -> None:
        bot = await make_dialog(f"sqlite+aiosqlite:///{path}")
        await add_customers(bot.sessions, CUSTOMERS)
        await bot.engine.dispose()

    asyncio.run(build())
    return path


@pytest.fixture
async def bot(template: Path, tmp_path: Path) -> AsyncIterator[DialogBot]:
    bot = copy_of(template, tmp_path, NOW)
    yield bot
    await bot.engine.dispose()


async def says(bot: DialogBot, transcript: str) -> None:
    """One exchange a line: `login: message => the exact reply`."""
    for line in filter(None, (x.strip() for x in transcript.splitlines())):
        said, _, expected = line.partition(" => ")
        login, text = said.split(": ", 1)
        assert await bot.say(login, text) == expected, line


async def first_line(bot: DialogBot, text: str, login: str = "operator") -> str:
    return (await bot.say(login, text) or "").splitlines()[0]


async def tickets(bot: DialogBot) -> int:
    async with bot.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Ticket)) or 0


@pytest.mark.parametrize(
    "query",
    ["+7 (495) 123-45-67", "84951234567", "8 495 123 45 67", "+74951234567", "1234567",
     "123-45-67", "4521"],
)  # fmt: skip
async def test_who_finds_a_phone_however_it_is_typed(bot: DialogBot, query: str) -> None:
    assert await bot.say("operator", f"who {query}") == IVANOV_CARD


async def test_an_extension_matches_exactly_and_other_numbers_match_no_one(
    bot: DialogBot,
) -> None:
    await says(
        bot,
        """
        operator: who 452 => No customer matches '452'.
        operator: who 45210 => No customer matches '45210'.
        operator: who +7 495 123-45-68 => No customer matches '+7 495 123-45-68'.
        operator: who 9999999 => No customer matches '9999999'.
        """,
    )
    assert await first_line(bot, "who +7 812 555 1234") == "Сидоров Пётр Алексеевич (c4)"
    assert await first_line(bot, "who 5551234") == "Сидоров Пётр Алексеевич (c4)"


async def test_who_by_lowercase_and_uppercase_cyrillic_fragments(bot: DialogBot) -> None:
    assert await bot.say("operator", "who ИВАНОВ") == "\n".join(
        [
            "3 customers match 'ИВАНОВ':",
            f"1. {IVANOV_LINE}",
            f"2. {IVANOVA_LINE}",
            f"3. {PETROV_LINE}",  # Иванович begins with иванов
        ]
    )
    found = await bot.say("operator", "who иван") or ""
    assert found.startswith("3 customers match 'иван':\n")
    assert await bot.say("operator", "who петр") == "\n".join(
        [
            "3 customers match 'петр':",
            f"1. {IVANOV_LINE}",  # Петрович
            f"2. {PETROV_LINE}",
            "3. Сидоров Пётр Алексеевич — Логистика, 8 (812) 555-12-34 (c4)",  # ё in the name
        ]
    )
    assert await first_line(bot, "who мАрИя") == "Иванова Мария Сергеевна (c2)"


@pytest.mark.parametrize(
    ("query", "customer"),
    [
        ("федорова", "Фёдорова Алёна Семёновна (c5)"),  # е in the query, ё in the name
        ("фёдорова", "Фёдорова Алёна Семёновна (c5)"),
        ("алена", "Фёдорова Алёна Семёновна (c5)"),
        ("ФЁДОР АЛЁН", "Фёдорова Алёна Семёновна (c5)"),
        ("семёнович", "Абрамов Олег Семенович (c6)"),  # ё in the query, е in the name
        ("пётр сидоров", "Сидоров Пётр Алексеевич (c4)"),
        ("петр сидоров", "Сидоров Пётр Алексеевич (c4)"),
    ],
)
async def test_yo_and_ye_are_the_same_letter(bot: DialogBot, query: str, customer: str) -> None:
    assert await first_line(bot, f"who {query}") == customer


async def test_word_order_does_not_matter_and_each_word_needs_its_own(bot: DialogBot) -> None:
    for query in ("петрович иван", "иван петрович", "Иванов Иван Петрович", "петрович иванов"):
        assert await first_line(bot, f"who {query}") == "Иванов Иван Петрович (c1)", query
    many = await bot.say("operator", "who иван иванов") or ""
    assert many.splitlines() == [
        "2 customers match 'иван иванов':",
        f"1. {IVANOV_LINE}",
        f"2. {PETROV_LINE}",  # Иван and Иванович: two words
    ]  # Иванова Мария has one word beginning with иван: not enough for both
    twice = await bot.say("operator", "who иван иван") or ""
    assert twice.splitlines()[1:] == many.splitlines()[1:]
    await says(bot, "operator: who мария мария => No customer matches 'мария мария'.")


async def test_short_words_count_only_when_they_are_all_there_is(bot: DialogBot) -> None:
    assert await first_line(bot, "who ли") == "Ли Анна Викторовна (c7)"  # a whole word
    assert await first_line(bot, "who ли анна") == "Ли Анна Викторовна (c7)"
    assert await first_line(bot, "who п. а. сидоров") == "Сидоров Пётр Алексеевич (c4)"
    await says(bot, "operator: who ив => No customer matches 'ив'.")  # not a prefix then


async def test_who_by_login_and_customer_id(bot: DialogBot) -> None:
    assert await bot.say("operator", "who ivanov") == IVANOV_CARD  # not ivanova too
    assert await bot.say("operator", "who IVANOV") == IVANOV_CARD
    assert await bot.say("operator", "who @ivanov") == IVANOV_CARD
    assert await first_line(bot, "who ivanova") == "Иванова Мария Сергеевна (c2)"
    assert await first_line(bot, "who c2") == "Иванова Мария Сергеевна (c2)"
    assert await first_line(bot, "who с2") == "Иванова Мария Сергеевна (c2)"  # Cyrillic с
    assert await first_line(bot, "who C3") == "Петров Иван Иванович (c3)"
    await says(
        bot,
        """
        operator: who c99 => No customer matches 'c99'.
        operator: who nobody => No customer matches 'nobody'.
        operator: who zzz => No customer matches 'zzz'.
        operator: who => Some text is needed. Usage: who <phone|name|login|c123>
        """,
    )
    assert await first_line(bot, "кто 4521") == "Иванов Иван Петрович (c1)"  # the alias


async def test_inactive_customers_are_marked_and_come_last(bot: DialogBot) -> None:
    card = await bot.say("operator", "who 4526") or ""
    assert "Inactive: no longer in the directory" in card.splitlines()
    assert "Active" not in card.splitlines()
    assert await bot.say("operator", "who семен") == "\n".join(
        [
            "2 customers match 'семен':",
            "1. Фёдорова Алёна Семёновна — Юридический отдел, room 310, 4525 (c5)",
            "2. Абрамов Олег Семенович — Склад, room 7, 4526, inactive (c6)",  # А... but last
        ]
    )


async def test_a_long_list_stops_at_ten(bot: DialogBot) -> None:
    more = [(f"Кузнецов Алексей {n}", f"kuz{n}", None, None, [], True) for n in range(12)]
    await add_customers(bot.sessions, more)
    found = (await bot.say("operator", "who кузнецов") or "").splitlines()
    assert found[0] == "12 customers match 'кузнецов':"
    assert found[1] == "1. Кузнецов Алексей 0 (c8)"  # nothing but the name and the id
    assert [line.split(".")[0] for line in found[1:11]] == [str(n) for n in range(1, 11)]
    assert found[11:] == ["... and 2 more."]


async def test_the_card_counts_calls_and_tickets_and_shows_the_last_five(
    bot: DialogBot,
) -> None:
    assert await bot.say("operator", "who 4521") == IVANOV_CARD
    assert await bot.say("operator", "call reset password") == f"Call #1 recorded{IVANOV_NOW}."
    opened = f"Ticket #2 opened for @it{IVANOV_NOW}."
    assert await bot.say("operator", "new printer jams @it") == opened
    card = await bot.say("operator", "who c1") or ""
    assert card.splitlines()[-4:] == [
        "Calls: 1, tickets: 1",
        "Last tickets:",
        "#2 [new] printer jams (25.11.2026)",
        "#1 [recorded call] reset password (25.11.2026)",
    ]
    await bot.say("w1", "take #2")
    for n in range(3, 8):
        await bot.say("operator", f"call from 4521 question {n}")
    card = await bot.say("operator", "who ivanov") or ""
    assert card.splitlines()[-7:] == [
        "Calls: 6, tickets: 1",
        "Last tickets:",
        "#7 [recorded call] question 7 (25.11.2026)",
        "#6 [recorded call] question 6 (25.11.2026)",
        "#5 [recorded call] question 5 (25.11.2026)",
        "#4 [recorded call] question 4 (25.11.2026)",
        "#3 [recorded call] question 3 (25.11.2026)",
    ]
    assert "#2 [in progress] printer jams" in (await bot.say("w1", "who c1") or "")


async def test_the_card_lists_only_tickets_this_person_may_see(bot: DialogBot) -> None:
    await bot.say("operator", "new from c1 salary file is locked @it")
    card = await bot.say("hr1", "who c1") or ""  # hr1 does not see IT's tickets
    assert "Calls: 0, tickets: 1" in card.splitlines()
    assert "salary" not in card and "Last tickets:" not in card
    assert "#1 [new] salary file is locked" in (await bot.say("w1", "who c1") or "")


async def test_a_single_match_is_the_current_customer_for_15_minutes(bot: DialogBot) -> None:
    await bot.say("operator", "who 4523")
    bot.clock.now = NOW + timedelta(minutes=14)
    assert await bot.say("operator", "new light is off @it") == (
        f"Ticket #1 opened for @it{PETROV_NOW}."
    )
    await says(
        bot,
        """
        w1: new nobody's ticket => Ticket #2 opened for @it.
        w1: call nobody's call => Call #3 recorded (no customer).
        """,
    )
    bot.clock.now = NOW + timedelta(minutes=15, seconds=1)
    await says(
        bot,
        """
        operator: new light is off again @it => Ticket #4 opened for @it.
        operator: call reset password => Call #5 recorded (no customer).
        """,
    )


async def test_a_list_or_no_match_leaves_the_current_customer(bot: DialogBot) -> None:
    await bot.say("operator", "who 4523")
    await bot.say("operator", "who иван")  # several
    await bot.say("operator", "who nobody")
    assert await bot.say("operator", "call ok") == f"Call #1 recorded{PETROV_NOW}."
    await bot.say("operator", "who 4521")  # another single match replaces it
    assert await bot.say("operator", "call ok") == f"Call #2 recorded{IVANOV_NOW}."


async def test_from_names_one_customer_who_becomes_the_current_one(bot: DialogBot) -> None:
    await says(
        bot,
        """
        operator: new from c3 printer @it => Ticket #1 opened for @it (Петров Иван Иванович).
        """,
    )
    assert await bot.say("operator", "call printer again") == f"Call #2 recorded{PETROV_NOW}."
    await says(
        bot,
        """
        operator: new from 4521 keyboard @it => Ticket #3 opened for @it (Иванов Иван Петрович).
        operator: call from "Иванов Иван" thanks => Call #4 recorded (Иванов Иван Петрович).
        operator: call от 8(495)765-43-21 thanks => Call #5 recorded (Иванова Мария Сергеевна).
        operator: call from "+7 495 765 43 21" ok => Call #6 recorded (Иванова Мария Сергеевна).
        operator: call from sidorov thanks => Call #7 recorded (Сидоров Пётр Алексеевич).
        operator: call from "пётр сидоров" ok => Call #8 recorded (Сидоров Пётр Алексеевич).
        operator: call thanks from c2 => Call #9 recorded (Иванова Мария Сергеевна).
        """,
    )
    async with bot.sessions() as session:
        ids = (await session.scalars(select(Ticket.customer_id).order_by(Ticket.id))).all()
    assert ids == [3, 3, 1, 1, 2, 2, 4, 4, 2]


async def test_a_command_that_fails_does_not_change_the_current_customer(
    bot: DialogBot,
) -> None:
    refused = await bot.say("operator", "new from c3 printer @nowhere") or ""
    assert refused.startswith("@nowhere is not a department or a person.")
    await says(bot, "operator: call ok => Call #1 recorded (no customer).")


async def test_an_ambiguous_or_unknown_from_opens_nothing(bot: DialogBot) -> None:
    await bot.say("operator", "who 4523")  # a current customer must not stand in for it
    assert await bot.say("operator", "new from иванов printer @it") == (
        f"'иванов' matches 3 customers: {THREE}; name one as from c1."
    )
    assert await bot.say("operator", 'call from "Иван" ok') == (
        f"'Иван' matches 3 customers: {THREE}; name one as from c1."
    )
    await says(
        bot,
        """
        operator: call from 4599 ok => No customer matches '4599'.
        operator: new from "Иванов Иван Иваныч" x @it => No customer matches 'Иванов Иван Иваныч'.
        """,
    )
    assert await tickets(bot) == 0
    more = [(f"Кузнецов Алексей {n}", f"kuz{n}", None, None, [], True) for n in range(7)]
    await add_customers(bot.sessions, more)
    refused = await bot.say("operator", "call from кузнецов ok") or ""
    assert refused.startswith("'кузнецов' matches 7 customers: c8 Кузнецов Алексей 0, ")
    assert refused.endswith(", c12 Кузнецов Алексей 4 and 2 more; name one as from c8.")
    assert await tickets(bot) == 0


async def test_replies_in_russian(bot: DialogBot) -> None:
    await bot.core.run_admin("staff", ["set", "operator", "lang", "ru"])
    assert await bot.say("operator", "кто 4521") == "\n".join(
        [
            "Иванов Иван Петрович (c1)",
            "Логин: ivanov",
            "Отдел: Бухгалтерия",
            "Кабинет: 214",
            "Телефон: +7 (495) 123-45-67, 4521",
            "Почта: ivanov@company.example",
            "Активен",
            "Звонков: 0, заявок: 0",
        ]
    )
    assert await bot.say("operator", "новая принтер @it") == (
        "Заявка #1 открыта для @it (Иванов Иван Петрович, текущий клиент)."
    )
    assert await bot.say("operator", "звонок from иванов ок") == (
        f"По запросу «иванов» найдено клиентов: 3 — {THREE}; укажите одного, например from c1."
    )
    await says(bot, "operator: кто никто => Клиент «никто» не найден.")
    card = (await bot.say("operator", "кто 4526") or "").splitlines()
    assert "Неактивен: больше нет в каталоге" in card
    assert await bot.say("operator", "кто семен") == "\n".join(
        [
            "Клиентов по запросу «семен»: 2",
            "1. Фёдорова Алёна Семёновна — Юридический отдел, к. 310, 4525 (c5)",
            "2. Абрамов Олег Семенович — Склад, к. 7, 4526, неактивен (c6)",
        ]
    )
    assert (await bot.say("operator", "кто c1") or "").splitlines()[-2:] == [
        "Последние заявки:",
        "#1 [новая] принтер (25.11.2026)",
    ]


# --- the seeded and the migrated customer bases ----------------------------------


async def _rows(sessions: Sessions) -> tuple[list[tuple[object, ...]], ...]:
    async with sessions() as session:
        customers = await session.execute(
            select(Customer.id, Customer.login, Customer.full_name, Customer.name_key,
                   Customer.phones, Customer.department, Customer.room, Customer.active,
                   Customer.email).order_by(Customer.id)
        )  # fmt: skip
        words = await session.execute(
            select(CustomerWord.customer_id, CustomerWord.word).order_by(
                CustomerWord.customer_id, CustomerWord.word
            )
        )
        phones = await session.execute(
            select(CustomerPhone.customer_id, CustomerPhone.raw, CustomerPhone.digits,
                   CustomerPhone.last7).order_by(CustomerPhone.customer_id, CustomerPhone.id)
        )  # fmt: skip
    return [tuple(r) for r in customers], [tuple(r) for r in words], [tuple(r) for r in phones]


async def _empty_database(path: Path) -> Sessions:
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return make_sessions(engine)


async def test_the_seed_writes_what_the_importers_write(tmp_path: Path) -> None:
    seeded = await _empty_database(tmp_path / "seeded.db")
    await seed.seed_customers(seeded, 60, random.Random(5))
    written = await _empty_database(tmp_path / "written.db")
    rng, logins = random.Random(5), set[str]()
    async with written() as session, session.begin():
        for i in range(1, 61):
            person = seed.synthetic_customer(i, rng, logins)
            customer = Customer(**{k: v for k, v in person.fields.items() if k != "full_name"})
            set_name(customer, str(person.fields["full_name"]))
            session.add(customer)
            await session.flush()
            await save_search_data(session, customer, person.phones)
    assert await _rows(seeded) == await _rows(written)
    customers, words, phones = await _rows(seeded)
    assert len(customers) == 60 and len(words) >= 180 and len(phones) >= 60
    assert all(len(str(c[2]).split()) == 3 for c in customers)  # Фамилия Имя Отчество


async def test_seeded_customers_are_found_by_who() -> None:
    bot = await make_dialog()
    await seed.seed_customers(bot.sessions, 300, random.Random(2026))
    async with bot.sessions() as session:
        c7 = await session.get(Customer, 7)
        assert c7 is not None and c7.phones is not None
        inactive = await session.scalar(select(func.count()).where(Customer.active.is_(False)))
    assert 0 < (inactive or 0) < 30  # a few
    assert await first_line(bot, "who 1007") == f"{c7.full_name} (c7)"
    assert await first_line(bot, f"who {c7.phones.split(', ')[0]}") == f"{c7.full_name} (c7)"
    assert await first_line(bot, f"who {c7.login}") == f"{c7.full_name} (c7)"
    surname, first, _ = c7.full_name.lower().split()
    listed = await bot.say("operator", f"who {first[:4]} {surname}") or ""
    assert f"{c7.full_name}" in listed
    await bot.engine.dispose()


def test_the_customer_base_migration_indexes_customers_made_before_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    config = alembic_config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(config, "0001")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO customers (login, full_name, phones, department, active) "
            "VALUES ('semenov', 'Семёнов Пётр Ильич', '+7 (495) 222-33-44, 4590', 'Склад', 1)"
        )
    db.close()
    command.upgrade(config, "head")

    async def check() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        bot = DialogBot(engine, make_sessions(engine), Clock(NOW))
        await bot.setup()
        try:
            for query in ("семенов", "петр семён", "4590", "84952223344", "2223344", "semenov"):
                assert await first_line(bot, f"who {query}") == "Семёнов Пётр Ильич (c1)", query
        finally:
            await engine.dispose()

    asyncio.run(check())


# --- indexes, and PostgreSQL -------------------------------------------------------

SEARCHES = [
    "who 4521", "who +7 (495) 123-45-67", "who 1234567", "who c3", "who ivanov", "who иван",
    "who петрович иван", "who иван иван", "who ли", "who зоя", "who яна", "who семен",
    "who ФЁДОР", "who кузнецов 1", "who nobody",
]  # fmt: skip
MORE = [
    ("Зоя Янова Ивановна", "zoya", None, None, [], True),
    ("Зоянов Пётр", "zoyanov", None, None, [], True),
    ("Зп Яна", "zp", None, None, [], True),
    ("Кузнецов Алексей 1", "k1", None, None, [], True),
    ("Кузнецов Алексей 19", "k19", None, None, [], True),
]


async def test_the_search_walks_indexes_only(bot: DialogBot) -> None:
    """No query of `who` reads a whole table (EXPLAIN QUERY PLAN on SQLite)."""
    await add_customers(bot.sessions, MORE)
    await bot.say("operator", "call from c1 printer")
    statements: list[tuple[str, Any]] = []

    def record(*args: object) -> None:
        statement, parameters = args[2], args[3]
        if str(statement).lstrip().upper().startswith("SELECT"):
            statements.append((str(statement), parameters))

    event.listen(bot.engine.sync_engine, "before_cursor_execute", record)
    for message in SEARCHES:
        await bot.say("operator", message)
    event.remove(bot.engine.sync_engine, "before_cursor_execute", record)
    searched = [s for s in statements if re.search(r"customer_words|customer_phones", s[0])]
    assert len(searched) >= len(SEARCHES) - 3
    async with bot.engine.connect() as conn:
        for statement, parameters in statements:
            plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            lines = [str(row[3]) for row in plan]
            scans = [line for line in lines if re.match(r"SCAN (?!\(|CONSTANT|anon_)", line)]
            assert not scans, (statement, lines)
            if "customer_words" in statement:
                assert any("ix_customer_words_word" in line for line in lines), lines


@pytest.mark.postgres
@pytest.mark.parametrize("collation", ["database default", "Russian (ICU)"])
async def test_postgresql_finds_the_same(collation: str, tmp_path: Path) -> None:
    """A word's range (`word >= 'зоя' AND word < 'зп'`) holds in a Russian collation too,
    where the code point after я (ѐ) sorts beside е."""
    sqlite = await make_dialog()
    await add_customers(sqlite.sessions, CUSTOMERS + MORE)
    expected = [await sqlite.say("operator", message) for message in SEARCHES]
    await sqlite.engine.dispose()
    async with scratch_database("postgresql", tmp_path) as url:
        if collation != "database default":
            url = await _icu_database(make_url(url), "ru-RU")
        try:
            bot = await make_dialog(url)
            await add_customers(bot.sessions, CUSTOMERS + MORE)
            got = [await bot.say("operator", message) for message in SEARCHES]
            await bot.engine.dispose()
        finally:
            if collation != "database default":
                await drop_pg_database(pg_server_url(), str(make_url(url).database))
    assert got == expected


async def _icu_database(scratch: URL, locale: str) -> str:
    """A new database beside `scratch` whose text sorts by an ICU locale."""
    name = f"{PREFIX}icu_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(pg_server_url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
                    f"ICU_LOCALE '{locale}' LOCALE 'C.UTF-8'"
                )
            )
    finally:
        await engine.dispose()
    return scratch.set(database=name).render_as_string(hide_password=False)
