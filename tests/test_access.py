"""Access rules (access.md), through the chat core.

Threat: a staff member seeing or changing tickets outside their rights: reading a
colleague's personal ticket, learning that a hidden ticket exists, or taking, routing,
re-prioritising, closing or reopening a ticket they have no say over. Each rule is
checked for each role, the denials included, and a denial must change nothing: the
history stays as it was and no one is notified.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from dialog import DialogBot, copy_of, make_dialog
from sqlalchemy import func, select

from storage.models import Outbox, Staff, TicketEvent

NOW = datetime(2026, 11, 25, 9, 0)  # make_dialog's clock: Wednesday, 12:00 in Moscow

# 1: the it department; 2: hr1 personally; 3: w2 personally; 4: the hr department (by w1)
SEED = [
    ("operator", "new printer jams @it"),
    ("operator", "new payslip question @hr1"),
    ("operator", "new vpn broken @w2"),
    ("w1", "new holiday question @hr"),
]
LOGINS = ["admin", "operator", "head_it", "w1", "w2", "head_hr", "hr1", "multi"]
# Which seeded tickets each may see and act on, per access.md. A ticket seen but not in
# an action's row is refused; one not seen answers as a missing one.
# fmt: off
MAY = {   #  admin  operator head_it  w1    w2    head_hr  hr1   multi
    "see":    ("1234", "123",  "13",  "14", "13", "24",  "24", "14"),
    "take":   ("",     "123",  "13",  "14", "13", "24",  "24", "14"),
    "assign": ("1234", "123",  "13",  "4",  "",   "24",  "",   ""),
    "change": ("1234", "123",  "13",  "4",  "",   "24",  "",   ""),
    "close":  ("1234", "",     "13",  "",   "3",  "24",  "2",  ""),
    "reopen": ("1234", "123",  "13",  "4",  "3",  "24",  "2",  ""),
}
# fmt: on
# operator created 1-3 and sees them; head_it sees #3 as w2's home is it; w1 sees #4 as
# its creator; multi (home hr, extra it) sees both departments' tickets but no one's
# personal ones; only the target person, their head, the creator and admins see #2, #3.


def may(action: str, login: str) -> set[int]:
    return {int(c) for c in MAY[action][LOGINS.index(login)]}


VISIBLE = {login: may("see", login) for login in LOGINS}
STRANGER = "Sorry, this is a private service for the company's staff."


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded database, built once; each test gets a copy (milliseconds, not 0.2 s)."""
    path = tmp_path_factory.mktemp("access") / "seeded.db"

    async def build() -> None:
        bot = await make_dialog(f"sqlite+aiosqlite:///{path}")
        for login, text in SEED:
            assert (await bot.say(login, text) or "").startswith("Ticket #")
        await bot.engine.dispose()

    asyncio.run(build())
    return path


@pytest.fixture
async def bot(template: Path, tmp_path: Path) -> AsyncIterator[DialogBot]:
    bot = copy_of(template, tmp_path, NOW)
    yield bot
    await bot.engine.dispose()


async def snapshot(bot: DialogBot, n: int) -> tuple[str | None, int, int]:
    """The ticket's card with its history (as an admin sees it) and the row counts."""
    async with bot.sessions() as session:
        events = await session.scalar(select(func.count()).select_from(TicketEvent))
        outbox = await session.scalar(select(func.count()).select_from(Outbox))
    return await bot.core.handle("admin@example.test", f"show #{n}"), events or 0, outbox or 0


async def attempt(
    bot: DialogBot, login: str, text: str, n: int, expected: str, allowed: bool
) -> None:
    """Run one command; allowed, it must change the ticket; denied, nothing at all."""
    bot.delivered.clear()
    before = await snapshot(bot, n)
    assert await bot.say(login, text) == expected
    after = await snapshot(bot, n)
    if allowed:
        assert after != before
    else:
        assert after == before
        assert bot.nobody_else_notified() == {}


def listed(reply: str | None) -> set[int]:
    return {int(m) for m in re.findall(r"^#(\d+) \[", reply or "", re.M)}


# --- seeing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("login", LOGINS)
async def test_show_per_role(bot: DialogBot, login: str) -> None:
    for n in (1, 2, 3, 4):
        reply = await bot.say(login, f"show #{n}")
        if n in VISIBLE[login]:
            assert (reply or "").startswith(f"#{n} [normal, new] "), (login, n)
        else:
            assert reply == f"#{n} not found", (login, n)


@pytest.mark.parametrize("login", LOGINS)
async def test_list_per_role(bot: DialogBot, login: str) -> None:
    assert listed(await bot.say(login, "list")) == VISIBLE[login]


@pytest.mark.parametrize(
    ("n", "sees", "colleagues"),
    [
        (3, ["w2", "head_it", "operator", "admin"], ["w1", "multi"]),
        (2, ["hr1", "head_hr", "operator", "admin"], ["multi"]),
    ],
)
async def test_a_personal_ticket_is_hidden_from_the_persons_colleagues(
    bot: DialogBot, n: int, sees: list[str], colleagues: list[str]
) -> None:
    for login in sees:
        assert n in listed(await bot.say(login, "list"))
        assert (await bot.say(login, f"show #{n}") or "").startswith(f"#{n} [")
    for login in colleagues:
        assert await bot.say(login, f"show #{n}") == f"#{n} not found"
        assert n not in listed(await bot.say(login, "list"))
        assert await bot.say(login, f"#{n} hi") == f"#{n} not found"


ACTIONS = [
    "show #{n}",
    "#{n} hello",
    "take #{n}",
    "assign #{n} @hr",
    "assign #{n}",
    "prio #{n} !urgent",
    "due #{n} ^tomorrow",
    "close #{n} done",
    "reopen #{n}",
]


@pytest.mark.parametrize(
    ("login", "n"), [("w1", 3), ("multi", 2), ("head_it", 2), ("hr1", 1), ("operator", 4)]
)
async def test_a_hidden_ticket_answers_as_a_missing_one(bot: DialogBot, login: str, n: int) -> None:
    before = await snapshot(bot, n)
    for action in ACTIONS:
        hidden = await bot.say(login, action.format(n=n))
        missing = await bot.say(login, action.format(n=99999))
        assert hidden is not None and missing is not None
        assert hidden.replace(f"#{n}", "#N") == missing.replace("#99999", "#N"), action
    assert await snapshot(bot, n) == before
    assert bot.nobody_else_notified() == {}


# --- changing --------------------------------------------------------------------------------

# action: (its row in MAY, the command, its confirmation, the verb of its refusal)
CHANGES = {
    "take": ("take", "take #{n}", "#{n} is yours now.", "take"),
    "assign": ("assign", "assign #{n} @ops", "#{n} assigned to @ops.", "assign"),
    "prio": ("change", "prio #{n} !urgent", "#{n} priority is urgent now.", "change"),
    "due": ("change", "due #{n} ^tomorrow", "#{n} is due 26.11.2026 now.", "change"),
    "close": ("close", "close #{n} done", "#{n} closed.", "close"),
    "reopen": ("reopen", "reopen #{n}", "#{n} reopened.", "reopen"),
}
NOT_A_COMMAND = "You may not use 'take'."


@pytest.mark.parametrize("login", LOGINS)
@pytest.mark.parametrize("action", list(CHANGES))
async def test_change_per_role(bot: DialogBot, action: str, login: str) -> None:
    row, command, done, verb = CHANGES[action]
    if action == "reopen":
        for n in (1, 2, 3, 4):
            assert await bot.say("admin", f"close #{n}") == f"#{n} closed."
        bot.delivered.clear()
    for n in (1, 2, 3, 4):
        if login == "admin" and action == "take":  # access.md: users and coordinators take
            expected, allowed = NOT_A_COMMAND, False
        elif n not in VISIBLE[login]:
            expected, allowed = f"#{n} not found", False
        else:
            allowed = n in may(row, login)
            expected = done.format(n=n) if allowed else f"You may not {verb} #{n}."
        await attempt(bot, login, command.format(n=n), n, expected, allowed)


@pytest.mark.parametrize("login", LOGINS)
async def test_comment_by_everyone_who_sees_it(bot: DialogBot, login: str) -> None:
    for n in (1, 2, 3, 4):
        allowed = n in VISIBLE[login]
        expected = f"Comment added to #{n}." if allowed else f"#{n} not found"
        await attempt(bot, login, f"#{n} a note", n, expected, allowed)


@pytest.mark.parametrize(
    ("holder", "taker", "n", "allowed"),
    [
        ("w1", "w2", 1, False),  # a user never takes over
        ("w1", "head_it", 1, True),  # a coordinator from someone in their departments
        ("multi", "head_it", 1, True),  # ... an extra department counts like home
        ("operator", "head_it", 1, False),  # ... but not from someone outside them
        ("w1", "head_hr", 4, False),  # w1 created #4 for hr, took it: w1 is not in hr
        ("hr1", "head_hr", 4, True),
    ],
)
async def test_take_over(bot: DialogBot, holder: str, taker: str, n: int, allowed: bool) -> None:
    assert await bot.say(holder, f"take #{n}") == f"#{n} is yours now."
    bot.delivered.clear()
    held = f"#{n} is held by @{holder}; you may not take it over."
    await attempt(bot, taker, f"take #{n}", n, f"#{n} is yours now." if allowed else held, allowed)
    if allowed:  # the one it was taken from is told
        assert bot.inbox(holder) == [f"#{n} @{taker} took it"]


async def test_a_coordinator_takes_over_from_a_switched_off_holder(bot: DialogBot) -> None:
    assert await bot.say("w1", "take #1") == "#1 is yours now."
    assert (
        await bot.say("admin", "staff off w1")
        == "@w1 has no access any more; their history is kept."
    )
    await attempt(bot, "w2", "take #1", 1, "#1 is held by @w1; you may not take it over.", False)
    await attempt(bot, "head_it", "take #1", 1, "#1 is yours now.", True)


@pytest.mark.parametrize(
    ("command", "refused"),
    [
        ("assign #1 @w1", "You may not assign #1."),
        ("prio #1 !high", "You may not change #1."),
        ("due #1 ^fri", "You may not change #1."),
        ("close #1", "You may not close #1."),
    ],
)
async def test_the_holder_may_what_a_colleague_may_not(
    bot: DialogBot, command: str, refused: str
) -> None:
    await attempt(bot, "w2", command, 1, refused, False)
    assert await bot.say("w2", "take #1") == "#1 is yours now."
    before = await snapshot(bot, 1)
    assert (await bot.say("w2", command) or "").startswith("#1 ")
    assert await snapshot(bot, 1) != before


async def test_the_holder_may_reopen(bot: DialogBot) -> None:
    assert await bot.say("multi", "take #1") == "#1 is yours now."
    assert await bot.say("admin", "close #1") == "#1 closed."
    await attempt(bot, "multi", "reopen #1", 1, "#1 reopened.", True)
    assert "Held by: @multi" in (await bot.say("admin", "show #1") or "")


# --- departments, inactive people, admin commands -------------------------------------------------


async def test_a_coordinators_extra_departments_count_like_home(bot: DialogBot) -> None:
    reply = await bot.say("admin", "staff add boss boss@example.test coordinator hr +it")
    assert reply == "@boss (boss@example.test) added as coordinator of @hr +@it."
    assert listed(await bot.say("boss", "list")) == {1, 2, 3, 4}
    assert await bot.say("w1", "take #1") == "#1 is yours now."
    assert await bot.say("boss", "take #1") == "#1 is yours now."
    assert await bot.say("boss", "close #3") == "#3 closed."


async def test_an_inactive_person_is_a_stranger(bot: DialogBot) -> None:
    off = await bot.say("admin", "staff off w2")
    assert off == "@w2 has no access any more; their history is kept."
    before = await snapshot(bot, 3)
    assert await bot.say("w2", "show #3") == STRANGER
    assert await bot.say("w2", "close #3") is None  # refused once an hour
    assert await snapshot(bot, 3) == before
    unknown = await bot.say("operator", "new x @w2")
    assert (unknown or "").startswith("@w2 is not a department or a person.")
    assert await bot.say("operator", "new y @it") == "Ticket #5 opened for @it."
    assert bot.inbox("w2") == []
    assert bot.inbox("w1") == ["#5 y — from @operator\nNew for @it [normal]"]


@pytest.mark.parametrize("login", ["admin", "head_it", "w1", "operator"])
async def test_help_lists_only_what_the_role_may_run(bot: DialogBot, login: str) -> None:
    reply = await bot.say(login, "help") or ""
    is_admin = login == "admin"
    assert ("\ndept add <short>" in reply) is is_admin
    assert ("\nstaff add <login>" in reply) is is_admin
    assert ("\ntake #N" in reply) is not is_admin
    for usage in ("show #N", "close #N", "list ", "new "):
        assert f"\n{usage}" in reply
    one = await bot.say(login, "help staff")
    assert (one or "").startswith("staff add" if is_admin else "Unknown command 'staff'.")


async def staff_count(bot: DialogBot) -> int:
    async with bot.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Staff)) or 0


@pytest.mark.parametrize("login", ["w1", "head_it", "operator"])
async def test_admin_commands_are_refused_to_others(bot: DialogBot, login: str) -> None:
    count = await staff_count(bot)
    for text in (
        "staff add evil evil@example.test admin it",
        "staff set w2 role admin",
        "staff off w2",
        "dept add fin Finance",
    ):
        reply = await bot.say(login, text) or ""
        assert reply == f"You may not use '{text.split()[0]}'.", text
    assert await staff_count(bot) == count
    assert await bot.say("evil", "help") == STRANGER
    assert (await bot.say("w2", "show #3") or "").startswith("#3 [")  # w2: still active
    assert "staff add" not in (await bot.say("w2", "help") or "")  # ... and not an admin
    assert (await bot.say("admin", "new x @fin") or "").startswith("@fin is not a department")
