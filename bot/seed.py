"""Synthetic data for the demo and the benchmarks: departments, staff, customers, tickets."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commands.core import Helpdesk
from importers.names import name_key, name_words
from importers.phones import Phone, parse_phone
from storage.clock import utcnow
from storage.db import Sessions
from storage.models import (
    Base,
    Customer,
    CustomerPhone,
    CustomerWord,
    Outbox,
    OutboxStatus,
    Status,
    Ticket,
    TicketEvent,
)

DEPARTMENTS = [
    ("it", "IT department"),
    ("ops", "Operators"),
    ("fac", "Facilities"),
]
# login, role, home department, extra departments
STAFF = [
    ("admin", "admin", "ops", []),
    ("operator", "user", "ops", []),
    ("head_it", "coordinator", "it", []),
    ("petrov", "user", "it", []),
    ("sidorov", "user", "it", ["fac"]),
    ("head_fac", "coordinator", "fac", []),
    ("ivanova", "user", "fac", []),
]
# surnames in their masculine form; the feminine one is made by _feminine
_SURNAMES = [
    "Иванов", "Петров", "Сидоров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов",
    "Михайлов", "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов",
    "Егоров", "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров",
    "Никитин", "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов",
    "Воробьёв", "Сергеев", "Кузьмин", "Фролов", "Александров", "Дмитриев", "Королёв",
    "Гусев", "Киселёв", "Ильин", "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв",
    "Белов", "Медведев", "Антонов", "Тарасов", "Жуков", "Баранов", "Филиппов", "Комаров",
    "Давыдов", "Беляев", "Герасимов", "Богданов", "Осипов", "Сидоренко", "Матвеев",
    "Титов", "Марков", "Миронов", "Крылов", "Куликов", "Карпов", "Власов", "Мельников",
    "Денисов", "Гаврилов", "Тихонов", "Казаков", "Афанасьев", "Данилов", "Савельев",
    "Тимофеев", "Фомин", "Чернов", "Абрамов", "Мартынов", "Ефимов", "Федотов", "Щербаков",
    "Назаров", "Калинин", "Исаев", "Чернышёв", "Быков", "Маслов", "Родионов", "Коновалов",
    "Лазарев", "Воронин", "Климов", "Филатов", "Пономарёв", "Голубев", "Кудрявцев",
    "Прохоров", "Наумов", "Потапов", "Журавлёв", "Овчинников", "Трофимов", "Леонов",
    "Соболев", "Ермаков", "Колесников", "Гончаров", "Емельянов", "Никифоров", "Грачёв",
    "Котов", "Гришин", "Ефремов", "Архипов", "Громов", "Кириллов", "Малышев", "Панов",
    "Моисеев", "Румянцев", "Акимов", "Кондратьев", "Бирюков", "Горбунов", "Анисимов",
    "Еремеев", "Третьяков", "Зуев", "Рябов", "Островский", "Вишневский", "Бондаренко",
    "Ковальчук", "Шевченко", "Римский-Корсаков", "Петров-Водкин", "Седых", "Черных",
]  # fmt: skip
# a father's name: the man's own name, and his children's patronymics (son, daughter)
_MEN = {
    "Иван": ("Иванович", "Ивановна"), "Пётр": ("Петрович", "Петровна"),
    "Алексей": ("Алексеевич", "Алексеевна"), "Сергей": ("Сергеевич", "Сергеевна"),
    "Андрей": ("Андреевич", "Андреевна"), "Дмитрий": ("Дмитриевич", "Дмитриевна"),
    "Михаил": ("Михайлович", "Михайловна"), "Николай": ("Николаевич", "Николаевна"),
    "Владимир": ("Владимирович", "Владимировна"), "Александр": ("Александрович", "Александровна"),
    "Юрий": ("Юрьевич", "Юрьевна"), "Игорь": ("Игоревич", "Игоревна"),
    "Олег": ("Олегович", "Олеговна"), "Павел": ("Павлович", "Павловна"),
    "Фёдор": ("Фёдорович", "Фёдоровна"), "Евгений": ("Евгеньевич", "Евгеньевна"),
    "Виктор": ("Викторович", "Викторовна"), "Анатолий": ("Анатольевич", "Анатольевна"),
    "Константин": ("Константинович", "Константиновна"), "Григорий": ("Григорьевич", "Григорьевна"),
    "Семён": ("Семёнович", "Семёновна"), "Илья": ("Ильич", "Ильинична"),
    "Артём": ("Артёмович", "Артёмовна"), "Максим": ("Максимович", "Максимовна"),
    "Роман": ("Романович", "Романовна"), "Валерий": ("Валерьевич", "Валерьевна"),
    "Борис": ("Борисович", "Борисовна"), "Геннадий": ("Геннадьевич", "Геннадьевна"),
    "Станислав": ("Станиславович", "Станиславовна"), "Кирилл": ("Кириллович", "Кирилловна"),
}  # fmt: skip
_WOMEN = [
    "Ольга", "Елена", "Анна", "Мария", "Наталья", "Татьяна", "Ирина", "Светлана", "Юлия",
    "Екатерина", "Людмила", "Галина", "Марина", "Надежда", "Валентина", "Оксана", "Алёна",
    "Дарья", "Ксения", "Вера", "Любовь", "Евгения", "Александра", "Полина", "Софья",
    "Виктория", "Лариса", "Нина", "Зоя", "Тамара",
]  # fmt: skip
_DEPTS = [
    "Бухгалтерия", "Отдел кадров", "Юридический отдел", "Отдел продаж", "Склад", "Логистика",
    "Финансовый отдел", "Отдел закупок", "Канцелярия", "Служба безопасности", "Маркетинг",
    "Планово-экономический отдел", "Производственный отдел", "Приёмная", "Архив",
]  # fmt: skip
_LATIN = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p",
     "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"],
    strict=True,
))  # fmt: skip
PROBLEMS = [
    "printer on floor {n} jams", "no network in room {n}", "reset password",
    "install the accounting client", "monitor flickers in room {n}", "mail does not sync",
    "new employee needs a workstation", "projector in meeting room {n} is dead",
    "VPN does not connect", "replace cartridge in {n}", "air conditioner in {n} leaks",
    "door lock in room {n} is stuck",
]  # fmt: skip


def _feminine(surname: str) -> str:
    """Иванов → Иванова, Островский → Островская; Шевченко, Седых stay as they are."""
    parts = surname.split("-")
    for i, part in enumerate(parts):
        if part.endswith("ий"):
            parts[i] = part[:-2] + "ая"
        elif part.endswith(("ов", "ев", "ёв", "ин")):
            parts[i] = part + "а"
    return "-".join(parts)


def _full_name(rng: random.Random) -> str:
    """Фамилия Имя Отчество."""
    surname, father = rng.choice(_SURNAMES), rng.choice(list(_MEN))
    son, daughter = _MEN[father]
    if rng.random() < 0.5:
        return f"{surname} {rng.choice(list(_MEN))} {son}"
    return f"{_feminine(surname)} {rng.choice(_WOMEN)} {daughter}"


def _login(full_name: str, taken: set[str]) -> str:
    """`ivanov.ip`, as an AD account would be named; a number added when taken."""
    surname, first, middle = (w.lower() for w in full_name.split())
    latin = "".join(_LATIN.get(ch, ch) for ch in surname.replace("-", ""))
    base = f"{latin}.{_LATIN[first[0]][:1]}{_LATIN[middle[0]][:1]}"
    login, n = base, 1
    while login in taken:
        n += 1
        login = f"{base}{n}"
    taken.add(login)
    return login


def city_phone(i: int) -> str:
    """The i-th seeded customer's city number (distinct for each up to 8 million)."""
    local = 2_000_000 + (i * 7919) % 8_000_000  # 7919 is prime to 8,000,000: no repeats
    digits = str(local)
    return f"+7 495 {digits[:3]}-{digits[3:5]}-{digits[5:]}"


def extension(i: int) -> str | None:
    """The i-th seeded customer's internal extension: 1001, 1002, ... up to 5 digits."""
    return str(1000 + i) if 1000 + i < 100_000 else None


@dataclass(frozen=True)
class SeedCustomer:
    fields: dict[str, object]  # the columns of Customer, search data aside
    phones: list[str]  # raw, as a source would give them


def synthetic_customer(i: int, rng: random.Random, logins: set[str]) -> SeedCustomer:
    """The i-th synthetic customer: a Russian full name, a login and e-mail from it,
    a department and room, a city number (most have one) and an extension; a few left."""
    full_name = _full_name(rng)
    login = _login(full_name, logins)
    phones = [city_phone(i)] if rng.random() < 0.85 else []
    phones += [e for e in (extension(i),) if e]
    fields: dict[str, object] = {
        "login": login,
        "full_name": full_name,
        "email": f"{login}@company.example",
        "department": rng.choice(_DEPTS),
        "room": str(rng.randint(100, 450)),
        "active": rng.random() > 0.03,
        "source": "ldap",
    }
    return SeedCustomer(fields, phones)


def search_data(
    customer: SeedCustomer, region: str = "RU"
) -> tuple[dict[str, object], list[str], list[Phone]]:
    """The customer's row, its name words and its phones, exactly as storage/customers.py's
    set_name and save_search_data write them (a test holds the two together)."""
    full_name = " ".join(str(customer.fields["full_name"]).split())
    words = [w[:64] for w in sorted(set(name_words(full_name)))]
    parsed = [p for p in (parse_phone(raw, region) for raw in customer.phones) if p is not None]
    phones = list({p.digits: p for p in parsed}.values())
    shown = ", ".join(p.raw for p in phones)[:255] or None
    row = dict(customer.fields, full_name=full_name, name_key=name_key(full_name), phones=shown)
    return row, words, phones


def problem(rng: random.Random) -> str:
    return rng.choice(PROBLEMS).format(n=rng.randint(100, 450))


async def seed_staff(core: Helpdesk, domain: str) -> None:
    """Departments and staff through the admin commands, as an admin would make them."""
    for short, name in DEPARTMENTS:
        await core.run_admin("dept", ["add", short, name])
    for login, role, home, extras in STAFF:
        extra = [f"+{e}" for e in extras]
        await core.run_admin("staff", ["add", login, f"{login}@{domain}", role, home, *extra])
        await core.run_admin("staff", ["set", login, "lang", "en"])


async def seed_customers(
    sessions: Sessions, count: int, rng: random.Random, *, region: str = "RU"
) -> None:
    """`count` synthetic customers with their name key, name words and phones as the
    importers write them, in bulk (benchmarks: 100,000 in about 15 s on SQLite or
    PostgreSQL). On an empty customer base customer i has id i and extension 1000 + i."""
    async with sessions() as session:
        before = await session.scalar(select(func.count()).select_from(Customer)) or 0
    logins: set[str] = set()
    batch = 5000
    for start in range(before + 1, before + count + 1, batch):
        people = [
            search_data(synthetic_customer(i, rng, logins), region)
            for i in range(start, min(start + batch, before + count + 1))
        ]
        async with sessions() as session, session.begin():
            await _insert_customers(session, people)


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


async def _insert_customers(
    session: AsyncSession, people: list[tuple[dict[str, object], list[str], list[Phone]]]
) -> None:
    """Plain executemany inserts: the ORM's bulk insert would split the rows into small
    batches wherever a value is None (an extension's last7), and RETURNING with the
    rows' order kept goes one row at a time on SQLite; the new ids are read back by
    login instead."""
    last = await session.scalar(select(func.max(Customer.id))) or 0
    await session.execute(insert(_table(Customer)), [row for row, _, _ in people])
    new = select(Customer.login, Customer.id).where(Customer.id > last)
    ids: dict[str | None, int] = {login: id_ for login, id_ in (await session.execute(new)).all()}
    words, phones = [], []
    for row, its_words, its_phones in people:
        id_ = ids[str(row["login"])]
        words += [{"customer_id": id_, "word": word} for word in its_words]
        phones += [
            {"customer_id": id_, "raw": p.raw[:64], "digits": p.digits[:20], "last7": p.last7}
            for p in its_phones
        ]
    await session.execute(insert(_table(CustomerWord)), words)
    if phones:
        await session.execute(insert(_table(CustomerPhone)), phones)


async def seed_demo_tickets(
    core: Helpdesk, domain: str, customers: int, count: int, rng: random.Random
) -> None:
    """Tickets through the chat core, so their history is what real use would write."""

    def jid(login: str) -> str:
        return f"{login}@{domain}"

    for n in range(1, count + 1):
        text, who = problem(rng), f"c{rng.randint(1, customers)}"
        if rng.random() < 0.3:
            await core.handle(jid("operator"), f"call from {who} {text}")
            continue
        target = rng.choice(["@it", "@it", "@fac", "@petrov", "@sidorov", "@ivanova"])
        prio = rng.choice(["", "", "!high", "!urgent", "!low"])
        due = rng.choice(["", "", "^today", "^tomorrow", "^fri"])
        await core.handle(jid("operator"), f"new from {who} {text} {target} {prio} {due}")
        worker = {"@fac": "ivanova", "@ivanova": "ivanova", "@sidorov": "sidorov"}.get(
            target, "petrov"
        )
        if rng.random() < 0.6:
            await core.handle(jid(worker), f"take #{n}")
            if rng.random() < 0.5:
                await core.handle(jid(worker), f"close #{n} done")
    async with core.sessions() as session, session.begin():
        # seeded history is not news: nobody should get a burst of old notifications
        await session.execute(update(Outbox).values(status=OutboxStatus.SENT.value))


async def bulk_tickets(
    sessions: Sessions,
    count: int,
    *,
    creator_id: int,
    department_ids: list[int],
    customers: int,
    rng: random.Random,
) -> None:
    """Many tickets at once (benchmarks), each with its opening history row."""
    now = utcnow()
    batch = 5000
    for start in range(0, count, batch):
        rows = []
        for _ in range(min(batch, count - start)):
            created = now - timedelta(minutes=rng.randint(1, 90 * 24 * 60))
            closed = rng.random() < 0.7
            rows.append({
                "kind": "ticket", "text": problem(rng), "creator_id": creator_id,
                "customer_id": rng.randint(1, customers) if customers else None,
                "department_id": rng.choice(department_ids), "priority": rng.randint(1, 4),
                "status": Status.CLOSED.value if closed else Status.NEW.value,
                "created_at": created,
                "closed_at": created + timedelta(hours=3) if closed else None,
            })  # fmt: skip
        async with sessions() as session, session.begin():
            ids = (await session.scalars(insert(Ticket).returning(Ticket.id), rows)).all()
            await session.execute(insert(TicketEvent), [
                {"ticket_id": i, "actor_id": creator_id, "action": "open", "at": now}
                for i in ids
            ])  # fmt: skip
