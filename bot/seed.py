"""Synthetic data for the demo and the benchmarks: departments, staff, customers, tickets."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import insert, update

from commands.core import Helpdesk
from storage.clock import utcnow
from storage.db import Sessions
from storage.models import Customer, Outbox, OutboxStatus, Status, Ticket, TicketEvent

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
_LAST = ["Иванов", "Петров", "Сидоров", "Смирнов", "Кузнецов", "Попов", "Васильев",
         "Соколов", "Михайлов", "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев",
         "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов"]  # fmt: skip
_FIRST = ["Иван", "Пётр", "Алексей", "Сергей", "Андрей", "Дмитрий", "Михаил", "Николай",
          "Ольга", "Елена", "Анна", "Мария", "Наталья", "Татьяна", "Ирина", "Светлана"]  # fmt: skip
_DEPTS = ["Бухгалтерия", "Склад", "Отдел кадров", "Продажи", "Юридический отдел", "Логистика"]
PROBLEMS = [
    "printer on floor {n} jams", "no network in room {n}", "reset password",
    "install the accounting client", "monitor flickers in room {n}", "mail does not sync",
    "new employee needs a workstation", "projector in meeting room {n} is dead",
    "VPN does not connect", "replace cartridge in {n}", "air conditioner in {n} leaks",
    "door lock in room {n} is stuck",
]  # fmt: skip


def _full_name(rng: random.Random) -> str:
    last, first = rng.choice(_LAST), rng.choice(_FIRST)
    if first in ("Ольга", "Елена", "Анна", "Мария", "Наталья", "Татьяна", "Ирина", "Светлана"):
        last = last[:-1] + "ва" if last.endswith("в") else last + "а"
    return f"{last} {first}"


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


async def seed_customers(sessions: Sessions, count: int, rng: random.Random) -> None:
    rows = [
        {
            "login": f"user{i:05d}",
            "full_name": _full_name(rng),
            "email": f"user{i:05d}@company.example",
            "department": rng.choice(_DEPTS),
            "phones": f"+7 495 {rng.randint(100, 999)}-{rng.randint(10, 99)}-{i % 100:02d}, "
            f"{4000 + i}",
            "room": str(rng.randint(100, 450)),
            "active": rng.random() > 0.03,
        }
        for i in range(1, count + 1)
    ]
    async with sessions() as session, session.begin():
        await session.execute(insert(Customer), rows)


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
