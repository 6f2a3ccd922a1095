"""Dialogues with the command core (commands.md): replies, notifications, errors."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from dialog import DialogBot
from sqlalchemy import func, select

from bot.channels import Envelope, NotConnected, TemporaryFailure
from commands import workflow
from commands.registry import REGISTRY
from storage.models import Customer, Outbox, Staff, Ticket, TicketEvent

NOW = datetime(2026, 11, 25, 9, 0)  # make_dialog's clock: Wednesday, 12:00 in Moscow
STRANGER = "Sorry, this is a private service for the company's staff."
HINT = "Type 'help' for the list of commands."


@pytest.fixture
def bot(dialog_bot: DialogBot) -> DialogBot:
    return dialog_bot


def notified(bot: DialogBot) -> dict[str, list[str]]:
    """What each person got since the last look."""
    got = {login: texts for login, texts in bot.delivered.items() if texts}
    bot.delivered.clear()
    return got


async def says(bot: DialogBot, transcript: str) -> None:
    """One exchange a line: `login: message => the exact reply`."""
    for line in filter(None, (x.strip() for x in transcript.splitlines())):
        said, _, expected = line.partition(" => ")
        login, text = said.split(": ", 1)
        assert await bot.say(login, text) == expected.replace("STRANGER", STRANGER), line


async def run(bot: DialogBot, login: str, *messages: str) -> None:
    """Set a scene: the messages must open, take or close tickets without an error."""
    for text in messages:
        reply = await bot.say(login, text) or ""
        assert re.match(r"(Ticket|Call) #|#\d+ (is yours|closed)", reply), (text, reply)


async def rows(bot: DialogBot) -> tuple[int, ...]:
    async with bot.sessions() as session:
        models = (Ticket, TicketEvent, Outbox, Staff)
        counts = [await session.scalar(select(func.count()).select_from(m)) for m in models]
    return tuple(c or 0 for c in counts)


def numbers(reply: str | None) -> list[int]:
    return [int(n) for n in re.findall(r"^#(\d+) \[", reply or "", re.M)]


def usage(word: str) -> str:
    command = REGISTRY.find(word)
    assert command is not None
    return f"Usage: {command.usage}"


async def test_open_take_comment_close_reopen(bot: DialogBot) -> None:
    await says(bot, "operator: new printer jams @it !high ^tomorrow => Ticket #1 opened for @it.")
    notice = "#1 !high printer jams — from @operator\nNew for @it [high, ^26.11.2026]"
    # the department's members (multi through an extra department) and its head
    assert notified(bot) == {login: [notice] for login in ("head_it", "w1", "w2", "multi")}

    by_w1, by_op = {"operator", "head_it"}, {"w1", "head_it"}
    steps = [  # who, message, reply, notification; holder, creator and head, never the actor
        ("w1", "take #1", "#1 is yours now.", "#1 !high @w1 took it", by_w1),
        ("w1", "#1 new roller", "Comment added to #1.", "#1 !high @w1: new roller", by_w1),
        ("w1", "close #1 done", "#1 closed.", "#1 !high @w1 closed it: done", by_w1),
        ("operator", "reopen #1 bad", "#1 reopened.", "#1 !high @operator reopened it: bad", by_op),
    ]
    for login, text, reply, notice, recipients in steps:
        assert await bot.say(login, text) == reply
        assert notified(bot) == {r: [notice] for r in recipients}

    card = await bot.say("operator", "show #1") or ""
    assert card.startswith(  # reopened: back to whoever held it
        "#1 [high, in progress] printer jams\nDepartment: @it\nHeld by: @w1\nDue: 26.11.2026\n"
        "Opened by @operator on 25.11.2026 12:00\nHistory:\n  25.11 12:00 @operator opened it"
    )
    history = [f"#1 !high {line.split(' ', 4)[-1]}" for line in card.splitlines()[7:]]
    assert history == [step[3] for step in steps]


async def test_a_personal_ticket_notifies_that_person_and_their_head(bot: DialogBot) -> None:
    await says(bot, "operator: new vpn broken @w2 => Ticket #1 opened for @w2.")
    notice = "#1 vpn broken — from @operator\nNew for @w2 [normal]"
    assert notified(bot) == {"w2": [notice], "head_it": [notice]}
    await says(bot, "head_it: #1 on it => Comment added to #1.")
    assert notified(bot) == {"w2": ["#1 @head_it: on it"], "operator": ["#1 @head_it: on it"]}


async def test_assign_notifies_the_old_and_the_new_parties(bot: DialogBot) -> None:
    await run(bot, "operator", "new printer @it")
    await run(bot, "w1", "take #1")
    notified(bot)
    await says(bot, "head_it: assign #1 @hr1 => #1 assigned to @hr1.")
    notice = "#1 printer — from @operator\nAssigned to @hr1 [normal] by @head_it"
    assert notified(bot) == {r: [notice] for r in ("hr1", "head_hr", "w1", "operator")}
    card = await bot.say("admin", "show #1") or ""
    assert "Department: @hr\nFor: @hr1\nHeld by: nobody yet" in card
    assert await bot.say("w1", "show #1") == "#1 not found"  # a colleague's personal now


async def test_a_call_is_recorded_closed_and_notifies_nobody(bot: DialogBot) -> None:
    await says(bot, "operator: call reset password => Call #1 recorded (no customer).")
    assert notified(bot) == {}
    card = await bot.say("operator", "show #1") or ""
    assert card.startswith("#1 [normal, recorded call] reset password\n")
    await says(bot, "operator: reopen #1 => #1 is a recorded call; it is not worked on.")
    await says(bot, "admin: list => No open tickets.")
    assert await bot.say("admin", "stats") == "No tickets yet."  # a call is not work


async def test_from_names_the_customer(bot: DialogBot) -> None:
    await says(
        bot,
        """
        operator: new printer from 4521 => No customer matches '4521'.
        operator: new printer from “Иванов Иван” @it => No customer matches 'Иванов Иван'.
        operator: call reset password от c12 => No customer matches 'c12'.
        """,
    )
    assert await rows(bot) == (0, 0, 0, 8)
    async with bot.sessions() as session, session.begin():
        session.add(Customer(full_name="Иванов Иван", login="ivanov"))
    await says(
        bot,
        """
        operator: call from ivanov reset password => Call #1 recorded (Иванов Иван).
        operator: new printer от c1 @it => Ticket #2 opened for @it (Иванов Иван).
        """,
    )
    assert "Customer: Иванов Иван" in (await bot.say("operator", "show #1") or "")


BAD = [  # message, what is wrong, the usage of which command
    ("tkae #1", "Unknown command 'tkae'. Did you mean 'take'?", None),
    ("frobnicate #1", "Unknown command 'frobnicate'.", None),
    ("", "", None),
    ("take", "Which ticket? Name it as #N.", "take"),
    ("take #1 #2", "Name one ticket only.", "take"),
    ("take #1 @w2", "This command takes no @target.", "take"),
    ("close #1 !high", "This command takes no !priority.", "close"),
    ("#1", "Some text is needed.", "comment"),
    ("prio #1", "Which priority? Use !low, !normal, !high or !urgent.", "prio"),
    ("prio #1 !asap", "Bad priority '!asap': use !low, !normal, !high, !urgent or !1..!4.", "prio"),
    ("due #1 ^x", "Bad due date 'x': use today, tomorrow, mon..sun, 27.11 or 2026-11-27.", "due"),
    ("assign #1", "Whom to? Name a department or a person as @name.", "assign"),
    ("assign #1 @it @hr", "Name one target only.", "assign"),
    ("assign #1 @nobody", "@nobody is not a department or a person.", "assign"),
    ("new printer @nobody", "@nobody is not a department or a person.", "new"),
    ("new", "Some text is needed.", "new"),
    ("new @it !high ^today", "Some text is needed.", "new"),
    ("new printer #1", "This command takes no #N.", "new"),
    ('new printer "floor 3', "A quote is not closed.", "new"),
    ("call printer @it", "This command takes no @target.", "call"),
    ("list bogus", "Unknown list filter 'bogus': use mine, new, all or @name.", "list"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "wrong", "word"), BAD)
async def test_bad_input_answers_one_line_and_changes_nothing(
    bot: DialogBot, text: str, wrong: str, word: str | None
) -> None:
    await run(bot, "operator", "new printer @it")
    notified(bot)
    before = await rows(bot)
    reply = await bot.say("operator", text) or ""
    assert reply == (f"{wrong} {usage(word)}" if word else f"{wrong} {HINT}".strip())
    assert "\n" not in reply
    assert await rows(bot) == before
    assert notified(bot) == {}


async def test_a_stranger_is_refused_once_an_hour(bot: DialogBot) -> None:
    await run(bot, "operator", "new printer @it")
    before = await rows(bot)
    assert await bot.say("eve@evil.test/laptop", "show #1") == STRANGER
    assert await bot.say("eve@evil.test/phone", "list") is None
    bot.clock.now = NOW + timedelta(minutes=59)
    assert await bot.say("eve@evil.test", "help") is None
    bot.clock.now = NOW + timedelta(minutes=61)
    assert await bot.say("eve@evil.test", "new spam") == STRANGER
    assert await bot.say("mallory@evil.test", "help") == STRANGER  # per person
    assert await rows(bot) == before


async def test_a_message_handled_twice_runs_once(bot: DialogBot) -> None:
    assert await bot.say("operator", "new printer", key="m1") == "Ticket #1 opened for @ops."
    assert await bot.say("operator", "new printer", key="m1") is None
    assert await bot.say("operator", "new printer", key="m2") == "Ticket #2 opened for @ops."
    long_key = "sid:" + "x" * 300  # stored cut to 255; the repeat must still match
    assert await bot.say("operator", "new scanner", key=long_key) == "Ticket #3 opened for @ops."
    assert await bot.say("operator", "new scanner", key=long_key) is None
    assert (await rows(bot))[0] == 3
    assert len(bot.inbox("admin")) == 3


async def test_an_internal_error_says_nothing_more_and_changes_nothing(
    bot: DialogBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await run(bot, "operator", "new printer @it")
    notified(bot)
    before = await rows(bot)

    async def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("password=hunter2 in /srv/helpdesk")

    monkeypatch.setattr(workflow, "routed_recipients", boom)  # after the ticket is written
    monkeypatch.setattr(workflow, "_notify_change", boom)  # after holder and history
    for text in ("new scanner @it", "take #1"):
        reply = await bot.say("w1", text, key=f"key {text}") or ""
        assert re.fullmatch(r"Something went wrong \(ref \w{6}\)\. Nothing was changed\.", reply)
        assert "hunter2" not in reply
    assert await rows(bot) == before
    assert notified(bot) == {}
    monkeypatch.undo()
    assert await bot.say("w1", "take #1", key="key take #1") == "#1 is yours now."  # not spent


async def test_notifications_survive_a_failing_transport(
    bot: DialogBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def flaky(envelope: Envelope) -> None:
        if envelope.address.startswith("head_it@"):
            raise TemporaryFailure("stream closed")

    bot.chat.behaviour = flaky
    await says(bot, "operator: new printer @it => Ticket #1 opened for @it.")
    assert sorted(notified(bot)) == ["multi", "w1", "w2"]  # one failure stops no one else
    async with bot.sessions() as session:
        stuck = (await session.scalars(select(Outbox).where(Outbox.status == "pending"))).all()
    assert [(m.address, m.attempts, m.last_error) for m in stuck] == [
        ("head_it@example.test", 1, "TemporaryFailure: stream closed")
    ]
    bot.chat.behaviour = None
    assert await bot.delivery.deliver_due() == 0  # its retry is not due yet
    bot.clock.now = NOW + timedelta(minutes=1)
    assert await bot.delivery.deliver_due() == 1
    assert notified(bot) == {"head_it": ["#1 printer — from @operator\nNew for @it [normal]"]}
    assert await bot.delivery.deliver_due() == 0  # and only once

    async def offline(envelope: Envelope) -> None:
        raise NotConnected

    bot.chat.behaviour = offline  # no attempt is spent while offline
    await says(bot, "operator: new vpn @w2 => Ticket #2 opened for @w2.")
    bot.chat.behaviour = None
    assert await bot.delivery.deliver_due() == 2
    assert sorted(notified(bot)) == ["head_it", "w2"]


async def test_russian_replies_and_aliases(bot: DialogBot) -> None:
    await says(bot, "admin: staff set w1 lang ru => @w1: lang is ru now.")
    await run(bot, "operator", "new printer @it")
    got = notified(bot)
    assert got["w1"] == ["#1 printer — от @operator\nНовая для @it [обычный]"]
    assert got["head_it"] == ["#1 printer — from @operator\nNew for @it [normal]"]
    await says(
        bot,
        """
        w1: взять #1 => #1 теперь ваша.
        w1: Закрыть #1 => #1 закрыта.
        w1: показать #99 => #99 не найдена
        w1: взять => Какая заявка? Укажите её как #N. Использование: take #N
        w1: фыва => Неизвестная команда «фыва». Список команд: «help» или «помощь».
        w1: список => Открытых заявок нет.
        operator: reopen #1 => #1 reopened.
        """,
    )
    assert notified(bot)["w1"] == ["#1 @operator открыл(а) заново"]
    assert (await bot.say("w1", "помощь") or "").startswith("Доступные вам команды")


async def test_list_filters(bot: DialogBot) -> None:
    await run(bot, "operator", "new a @it !high", "new b @w2", "new c @it !urgent", "new d @hr")
    await run(bot, "w1", "take #3")
    cases = [
        ("head_it", "list", [3, 2, 1]), ("head_it", "list all", [3, 2, 1]),
        ("w1", "list mine", [3]), ("w2", "list mine", [2]),  # held, or sent to them
        ("head_it", "list new", [2, 1]), ("head_it", "list @w2", [2]),
        ("head_it", "list @w1", [3]), ("admin", "list @it", [3, 2, 1]),
        ("admin", "list @hr", [4]), ("w1", "list @w2", []),  # w2's personal one stays hidden
        ("head_it", "list !high", [1]), ("head_it", "list new !urgent", []),
    ]  # fmt: skip
    for login, text, expected in cases:
        assert numbers(await bot.say(login, text)) == expected, (login, text)
    line = "#3 [urgent, in progress] c (@it, @w1)"
    assert line in (await bot.say("head_it", "list") or "").splitlines()
    await says(bot, "head_it: close #1 => #1 closed.")
    await says(bot, "head_it: list mine => No open tickets.")
    assert numbers(await bot.say("head_it", "list")) == [3, 2]


async def test_list_shows_twenty_and_counts_the_rest(bot: DialogBot) -> None:
    await run(bot, "operator", *(f"new t{i}" for i in range(1, 26)))
    lines = (await bot.say("operator", "list") or "").splitlines()
    assert numbers("\n".join(lines)) == list(range(25, 5, -1))
    assert lines[-1] == "... and 5 more."


async def test_agenda(bot: DialogBot) -> None:
    await run(
        bot,
        "operator",
        "new a @w1 ^today",  # 1: due today
        "new b @w1 ^2026-11-20 !high",  # 2: overdue
        "new c @w1 ^tomorrow !urgent",  # 3: not yet
        "new d @w1 !urgent",  # 4: no due date
        "new e @it ^today !urgent",  # 5: due today, held by w1
        "new f @w1 ^2026-11-01",  # 6: closed
    )
    await run(bot, "w1", "take #5", "close #6")
    expected = "Due today or overdue for @w1:\n" + "\n".join([
        "#5 [urgent, in progress] e (@it, @w1, ^25.11.2026)",
        "#2 [high, new] b (@it → @w1, ^20.11.2026)",
        "#1 [normal, new] a (@it → @w1, ^25.11.2026)",
    ])  # fmt: skip
    for login, text in [("w1", "agenda"), ("head_it", "agenda @w1"), ("admin", "agenda @w1")]:
        assert await bot.say(login, text) == expected
    await says(
        bot,
        """
        w2: agenda @w1 => You may ask only for a person of your departments.
        head_it: agenda @hr1 => You may ask only for a person of your departments.
        head_it: agenda @multi => Nothing due today or overdue for @multi.
        w2: agenda => Nothing due today or overdue for @w2.
        """,
    )
    bot.clock.now = NOW + timedelta(days=1)
    assert numbers(await bot.say("w1", "agenda")) == [5, 3, 2, 1]  # by priority, then due


async def test_stats_per_department(bot: DialogBot) -> None:
    await run(bot, "operator", "new a @it", "new b @it ^2026-11-20", "new c @hr", "call d")
    await run(bot, "w1", "take #1", "close #1")
    head = "Open / new today / closed today / overdue:"
    it = "@it: 1 / 2 / 1 / 1"
    # the call (@ops) is a recorded contact, not work: stats leave it out
    all_rows = [head, "@hr: 1 / 1 / 0 / 0", it, "all: 2 / 3 / 1 / 1"]
    assert (await bot.say("admin", "stats") or "").splitlines() == all_rows
    assert (await bot.say("w1", "stats") or "").splitlines() == [head, it, "all: 1 / 2 / 1 / 1"]
    assert (await bot.say("head_hr", "stats") or "").splitlines()[1] == "@hr: 1 / 1 / 0 / 0"
    bot.clock.now = NOW + timedelta(days=1)
    assert (await bot.say("admin", "stats") or "").splitlines()[-1] == "all: 2 / 0 / 0 / 1"


LAST_ADMIN = "@admin is the last active admin: make another admin first."
ADMIN_ERRORS = [  # message, what is wrong, the usage of which command
    ("dept add it IT again", "Department @it exists already.", None),
    ("dept add", "Some text is needed.", "dept"),
    ("dept add a/b N", "A department's short name is letters, digits, - or _ (up to 32).", "dept"),
    ("staff add w1 other@example.test user it", "@w1 or other@example.test exists already.", None),
    ("staff add neu w1@example.test user it", "@neu or w1@example.test exists already.", None),
    ("staff add neu n@example.test x it", "Role 'x' is not admin, coordinator or user.", "staff"),
    ("staff add neu not-a-jid user it", "'not-a-jid' is not a JID like name@domain.", "staff"),
    ("staff add neu n@example.test user nowhere", "@nowhere is not a department.", "staff"),
    ("staff add neu n@example.test user it +nowhere", "@nowhere is not a department.", "staff"),
    ("staff set w1 role king", "Role 'king' is not admin, coordinator or user.", "staff"),
    ("staff set w1 hat red",
     "'hat' cannot be set: use role, dept, phone, sms, lang, email, mail or quiet.", "staff"),
    ("staff set w1 lang de", "'de' is not a valid lang.", "staff"),
    ("staff set ghost role user", "@ghost is not a staff member.", "staff"),
    ("staff off admin", LAST_ADMIN, None),
    ("staff set admin role user", LAST_ADMIN, None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "wrong", "word"), ADMIN_ERRORS)
async def test_admin_command_errors_change_nothing(
    bot: DialogBot, text: str, wrong: str, word: str | None
) -> None:
    before = await rows(bot)
    assert await bot.say("admin", text) == (f"{wrong} {usage(word)}" if word else wrong)
    assert await rows(bot) == before
    assert await bot.say("w1", "take #1") == "#1 not found"  # w1 unchanged and active
    assert (await bot.say("admin", "help") or "").startswith("Commands you may use")


async def test_admin_adds_sets_and_switches_off(bot: DialogBot) -> None:
    await says(
        bot,
        """
        petrov: help => STRANGER
        admin: dept add fin Finance dept => Department @fin (Finance dept) added.
        admin: staff add Petrov petrov@example.test user fin +it => @petrov (petrov@example.test) added as user of @fin +@it.
        operator: new invoices @fin => Ticket #1 opened for @fin.
        operator: new vpn @w2 => Ticket #2 opened for @w2.
        operator: new printer @it => Ticket #3 opened for @it.
        admin: staff set w1 role coordinator => @w1: role is coordinator now.
        w1: close #2 => #2 closed.
        admin: staff off w1 => @w1 has no access any more; their history is kept.
        w1: list => STRANGER
        admin: staff off w1 => @w1 has no access already.
        admin: staff set head_it role admin => @head_it: role is admin now.
        admin: staff off admin => @admin has no access any more; their history is kept.
        admin: help => STRANGER
        """,  # noqa: E501
    )  # petrov, new, gets what his departments get; w1 closed #2 as a coordinator of it
    assert bot.inbox("petrov") == [
        "#1 invoices — from @operator\nNew for @fin [normal]",
        "#3 printer — from @operator\nNew for @it [normal]",
    ]
    assert numbers(await bot.say("petrov", "list")) == [3, 1]
    assert "@w1 closed it" in (await bot.say("head_it", "show #2") or "")  # history kept


# --- choices where the spec is silent (docs/access.md, docs/commands.md) ------------------


async def test_a_closed_ticket_is_reopened_before_it_is_routed_or_planned(bot: DialogBot) -> None:
    await run(bot, "operator", "new printer @it")
    await run(bot, "w1", "take #1", "close #1")
    notified(bot)
    before = await rows(bot)
    await says(
        bot,
        """
        head_it: assign #1 @w2 => #1 is closed: reopen it first.
        operator: prio #1 !urgent => #1 is closed: reopen it first.
        operator: due #1 ^tomorrow => #1 is closed: reopen it first.
        """,
    )
    assert await rows(bot) == before and notified(bot) == {}


async def test_a_coordinator_sees_what_they_opened_for_another_department(
    bot: DialogBot,
) -> None:
    await run(bot, "head_hr", "new laptop for a new hire @it")
    assert (await bot.say("head_hr", "show #1") or "").startswith("#1 [normal, new] laptop")
    await run(bot, "w1", "take #1")
    assert notified(bot)["head_hr"] == ["#1 @w1 took it"]  # and is told, as its creator


async def test_switched_off_staff_come_back_with_their_history(bot: DialogBot) -> None:
    await run(bot, "w2", "new a chair is broken @it")
    back = "@w2 (w2@example.test) has access again as user of @hr +@it."
    await says(
        bot,
        f"""
        admin: staff off w2 => @w2 has no access any more; their history is kept.
        w2: list => STRANGER
        admin: staff add w2 w2@example.test user hr +it => {back}
        admin: staff add w2 w2@example.test user hr => @w2 or w2@example.test exists already.
        w2: list => #1 [normal, new] a chair is broken (@it)
        """,
    )


async def test_russian_words_for_commands_and_help(bot: DialogBot) -> None:
    await says(bot, "admin: staff set w1 lang ru => @w1: lang is ru now.")
    assert await bot.say("w1", "открыть принтер не печатает @it") == "Заявка #1 открыта для @it."
    help_text = await bot.say("w1", "помощь") or ""
    assert "Взять заявку: теперь она ваша, в работе." in help_text
    assert await bot.say("w1", "вернуть #1") == "#1 не закрыта."


async def test_commands_without_arguments_refuse_stray_tokens(bot: DialogBot) -> None:
    await says(
        bot,
        """
        w1: stats !high => This command takes no !priority. Usage: stats
        w1: agenda from c1 => This command takes no from. Usage: agenda [@login]
        w1: agenda @w1 @w2 => Name one target only. Usage: agenda [@login]
        """,
    )
