"""Ad-hoc commands (XEP-0050 with XEP-0004 forms) on a real Prosody, driven by a real
slixmpp client that discovers the bot's commands and executes each one: the command list
per role, the multi-step customer pick, My tickets on several tickets at once, denials,
bad input that changes nothing, expired sessions. Fast tests first: what a form's text
becomes as a chat command."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import slixmpp
from live_desk import bot_config, database, read, running, seed, staff_accounts
from slixmpp.exceptions import IqError
from sqlalchemy import select
from xmpp_client import Account, AccountFactory, ChatClient, ClientFactory

from bot import adhoc
from bot.adhoc import AdhocCommands
from bot.config import Config
from bot.prosody import ProsodyServer
from commands.core import Answer, Helpdesk
from commands.errors import CommandError, UsageError
from commands.forms import (
    call_command,
    new_command,
    plan_command,
    protect,
    ticket_command,
)
from commands.tokens import split_command, tokenize
from storage.customers import save_search_data, set_name
from storage.db import make_engine, make_sessions
from storage.models import Customer, Staff, Ticket, TicketEvent

pytestmark = pytest.mark.xmpp

COMMANDS = "http://jabber.org/protocol/commands"
STAFF = [  # login, role, home department, language
    ("admin", "admin", "ops", "en"),
    ("operator", "user", "ops", "en"),
    ("head_it", "coordinator", "it", "en"),
    ("w1", "user", "it", "en"),
    ("w2", "user", "it", "ru"),
    ("hr1", "user", "hr", "en"),
]
CUSTOMERS = [  # c1..c3: "иван" matches all three, 4521 only the first
    ("Иванов Иван Петрович", "ivanov", "Бухгалтерия", "214", ["4521"]),
    ("Иванова Мария Сергеевна", "ivanova", "Отдел кадров", "105", ["4522"]),
    ("Петров Иван Иванович", "petrov", "Склад", "3", ["4523"]),
]
ALL = {"new", "call", "find", "mine", "plan"}
DAY = date(2026, 11, 25)


# -- fast: the form's values as the chat command ------------------------------------


def parsed(command: str) -> tuple[str, Any]:
    word, rest = split_command(command)
    return word, tokenize(rest, DAY)


def test_token_words_in_a_forms_text_stay_text() -> None:
    command = new_command(
        "printer @w2 jams !urgent #5 ^mon", None, target="w1", priority="high", due=None
    )
    word, tokens = parsed(command)
    assert (word, tokens.targets, tokens.priority, tokens.numbers) == ("new", ["w1"], 3, [])
    assert tokens.due is None and tokens.who is None
    assert tokens.text == 'printer "@w2" jams "!urgent" "#5" "^mon"'


def test_plain_words_and_line_breaks_are_left_alone() -> None:
    text = "письмо от директора\nkey from room 5 !!! #hashtag"
    assert protect(text, leading=True) == text
    _, tokens = parsed(call_command(text, None))
    assert tokens.who is None and tokens.text == text


def test_from_before_a_customer_is_quoted_where_the_chat_would_read_one() -> None:
    assert protect("from 4521 called", leading=True) == '"from" 4521 called'
    assert protect("came from 4521", leading=False) == 'came "from" 4521'
    assert protect("from the boss", leading=False) == "from the boss"
    _, tokens = parsed(call_command("from the boss", None))  # first: a customer
    assert tokens.who is None and tokens.text == '"from" the boss'
    _, tokens = parsed(call_command("from 4521 called", 7))
    assert tokens.who == "c7" and tokens.text == '"from" 4521 called'


def test_a_token_glued_to_a_stray_quote_is_refused_not_run() -> None:
    assert call_command('x"@y "z', None) == 'call x"@y "z'  # the chat reads no token there
    with pytest.raises(CommandError) as refused:
        call_command('broken @y" "z', None)  # it would route to @y"
    assert refused.value.key == "adhoc.bad_text"
    with pytest.raises(UsageError) as unclosed:
        call_command('24" monitor', None)
    assert unclosed.value.key == "bad_quote"


def test_the_other_commands() -> None:
    assert new_command("x", 3, target="it", priority="low", due=DAY) == (
        "new from c3 @it !low ^2026-11-25 x"
    )
    assert plan_command("check #4", person="w1", priority="high") == (
        'new @w1 !high ^tomorrow check "#4"'
    )
    assert ticket_command("take", 4, "ignored") == "take #4"
    assert ticket_command("close", 4, "done @w2") == 'close #4 done "@w2"'
    assert ticket_command("close", 4, " ") == "close #4"


async def test_finished_and_abandoned_forms_are_swept() -> None:
    client = slixmpp.ClientXMPP("bot@example.test", "secret")
    forms = AdhocCommands(client, Helpdesk(make_sessions(make_engine("sqlite+aiosqlite://"))), echo)
    now = time.monotonic()
    forms.plugin.sessions.update(
        {
            "waiting": {"next": echo, "hd_touched": now},
            "finished": {"next": None, "hd_touched": now},
            "abandoned": {"next": echo, "hd_touched": now - adhoc.SESSION_LIFETIME},
            "client:theirs": {"next": None},  # the plugin's client side: not ours
        }
    )
    forms._sweep()
    assert set(forms.plugin.sessions) == {"waiting", "client:theirs"}


async def echo(*args: Any) -> Answer:
    return Answer("", ok=True)


# -- the bot on a real Prosody ---------------------------------------------------------


@dataclass
class Desk:
    config: Config
    accounts: dict[str, Account]
    client: Callable[[str | None], Awaitable[Forms]]

    async def tickets(self) -> list[Ticket]:
        return await read(self.config, select(Ticket).order_by(Ticket.id))

    async def staff_ids(self) -> dict[str, int]:
        return {s.login: s.id for s in await read(self.config, select(Staff))}

    async def events(self, action: str) -> list[TicketEvent]:
        query = select(TicketEvent).where(TicketEvent.action == action)
        return await read(self.config, query.order_by(TicketEvent.id))


class Forms:
    """A person's real client: chat, and the bot's ad-hoc commands on its full JID."""

    def __init__(self, client: ChatClient, bot: str) -> None:
        self.client = client
        self.bot = bot  # the bot's full JID, learnt from a chat reply
        self.full = bot

    async def discover(self) -> None:
        """The bot's full JID: the sender of its answer to a chat message."""
        self.client.say(self.bot, "help")
        self.full = str((await self.client.expect(10, from_=self.bot)).sender)

    async def say(self, text: str) -> str:
        return await self.client.ask(self.bot, text, timeout=10)

    async def commands(self) -> dict[str, str]:
        disco = self.client.plugin["xep_0030"]
        iq = await disco.get_items(jid=self.full, node=COMMANDS, timeout=10)
        return {node: name for _jid, node, name in iq["disco_items"]["items"]}

    async def describe(self, node: str) -> Any:
        disco = self.client.plugin["xep_0030"]
        return await disco.get_info(jid=self.full, node=node, timeout=10)

    async def execute(self, node: str) -> Any:
        return await self.client.plugin["xep_0050"].send_command(self.full, node, timeout=10)

    async def submit(self, step: Any, values: dict[str, Any], action: str = "next") -> Any:
        form = self.client.plugin["xep_0004"].make_form(ftype="submit")
        for var, value in values.items():
            form.add_field(var=var, value=value)
        return await self.client.plugin["xep_0050"].send_command(
            self.full,
            step["command"]["node"],
            action=action,
            sessionid=step["command"]["sessionid"],
            payload=form,
            timeout=10,
        )


def fields(step: Any) -> dict[str, Any]:
    return dict(step["command"]["form"].get_fields())


def options(step: Any, var: str) -> list[str]:
    return [option["value"] for option in fields(step)[var]["options"]]


def value(step: Any, var: str) -> str:
    """A field's value as shown again (a text-multi one's lines joined)."""
    shown = fields(step)[var]["value"]
    return "\n".join(shown) if isinstance(shown, list) else str(shown or "")


def notes(step: Any) -> list[tuple[str, str]]:
    return [(kind, text) for kind, text in step["command"]["notes"]]


def error_note(step: Any) -> str:
    """The one-line error of a form shown again."""
    assert step["command"]["status"] == "executing"
    [(kind, text)] = notes(step)
    assert kind == "error" and "\n" not in text
    return str(text)


def completed(step: Any) -> str:
    assert step["command"]["status"] == "completed"
    [(_kind, text)] = notes(step)
    return str(text)


async def seed_desk(config: Config, accounts: dict[str, Account]) -> None:
    """The departments and STAFF (each in their language), then the CUSTOMERS."""
    departments = {short: f"{short.upper()} department" for short in ("it", "ops", "hr")}
    languages = {login: language for login, _, _, language in STAFF}
    await seed(config, STAFF, accounts, departments, language=languages)
    async with database(config) as sessions, sessions() as session, session.begin():
        for name, login, dept, room, phones in CUSTOMERS:
            customer = Customer(login=login, department=dept, room=room, active=True)
            set_name(customer, name)
            session.add(customer)
            await session.flush()
            await save_search_data(session, customer, phones)


@pytest.fixture
async def desk(
    prosody: ProsodyServer,
    xmpp_account: AccountFactory,
    xmpp_client: ClientFactory,
    tmp_path: Path,
) -> AsyncIterator[Desk]:
    accounts = staff_accounts(xmpp_account, STAFF)
    bot = xmpp_account("bot")
    config = bot_config(prosody, bot, tmp_path)
    await seed_desk(config, accounts)
    full: list[str] = []

    async def client(login: str | None) -> Forms:
        """A staff member's client (a stranger's for None), with the forms' plugins."""
        chat = await xmpp_client(accounts[login] if login else None, start=False)
        for plugin in ("xep_0004", "xep_0050"):
            chat.register_plugin(plugin)
        await chat.start()
        forms = Forms(chat, bot.jid)
        if full:
            forms.full = full[0]
        else:
            await forms.discover()
            full.append(forms.full)
        return forms

    async with running(config):
        await client("admin")  # the bot is online and its full JID known
        yield Desk(config, accounts, client)


async def test_each_role_sees_its_commands_and_a_stranger_none(desk: Desk) -> None:
    admin, head = await desk.client("admin"), await desk.client("head_it")
    operator, w2 = await desk.client("operator"), await desk.client("w2")
    assert await admin.commands() == {
        "new": "New ticket",
        "call": "Record a call",
        "find": "Find customer",
        "mine": "My tickets",
        "plan": "Plan tomorrow",
    }
    assert set(await head.commands()) == ALL
    assert set(await operator.commands()) == ALL - {"plan"}
    assert await w2.commands() == {  # in the language set for w2
        "new": "Новая заявка",
        "call": "Записать звонок",
        "find": "Найти клиента",
        "mine": "Мои заявки",
    }
    form = await w2.execute("new")
    assert form["command"]["form"]["title"] == "Новая заявка"
    assert fields(form)["text"]["label"] == "Текст"
    info = (await w2.describe("new"))["disco_info"]
    assert info["identities"] == {("automation", "command-node", None, "Новая заявка")}
    assert "http://jabber.org/protocol/commands" in info["features"]
    stranger = await desk.client(None)
    assert await stranger.commands() == {}
    for who, node in ((stranger, "new"), (stranger, "mine"), (operator, "plan")):
        with pytest.raises(IqError) as unknown:  # the details tell nothing either
            await who.describe(node)
        assert unknown.value.iq["error"]["condition"] == "item-not-found"
    for node in ("new", "mine", "plan"):
        with pytest.raises(IqError) as refused:
            await stranger.execute(node)
        assert refused.value.iq["error"]["condition"] == "forbidden"
        assert refused.value.iq["error"]["text"].startswith("Sorry, this is a private service")
    assert await desk.tickets() == []


async def test_new_ticket_picks_among_matching_customers(desk: Desk) -> None:
    operator = await desk.client("operator")
    step = await operator.execute("new")
    assert step["command"]["status"] == "executing"
    assert step["command"]["actions"] == {"next"}
    assert set(fields(step)) == {"customer", "text", "target", "priority", "due"}
    assert {"it", "ops", "hr", "w1", "head_it"} <= set(options(step, "target"))
    assert fields(step)["target"]["value"] == "ops"  # the default: the creator's department
    assert options(step, "priority") == ["low", "normal", "high", "urgent"]
    values = {
        "customer": "иван",
        "text": "printer @w2 jams !urgent",
        "target": "w1",
        "priority": "high",
        "due": "2030-01-15",
    }
    pick = await operator.submit(step, values)
    assert pick["command"]["status"] == "executing"
    assert pick["command"]["form"]["instructions"] == "'иван' matches 3 customers: pick one."
    assert options(pick, "pick") == ["1", "2", "3"]
    labels = [option["label"] for option in fields(pick)["pick"]["options"]]
    assert labels[2] == "Петров Иван Иванович — Склад, room 3, 4523 (c3)"
    assert await desk.tickets() == []  # nothing until the pick
    done = await operator.submit(pick, {"pick": "3"}, action="complete")
    assert completed(done) == "Ticket #1 opened for @w1 (Петров Иван Иванович)."
    [ticket] = await desk.tickets()
    ids = await desk.staff_ids()
    assert ticket.text == 'printer "@w2" jams "!urgent"'  # the text's tokens stayed text
    assert (ticket.customer_id, ticket.target_staff_id) == (3, ids["w1"])
    assert (ticket.priority, ticket.due) == (3, date(2030, 1, 15))
    # one match goes straight on: no pick step
    step = await operator.execute("call")
    done = await operator.submit(step, {"customer": "4521", "text": "password reset"})
    assert completed(done) == "Call #2 recorded (Иванов Иван Петрович)."
    call = (await desk.tickets())[1]
    assert (call.kind, call.status, call.customer_id) == ("call", "closed", 1)


async def test_find_customer_shows_the_card_or_a_pick(desk: Desk) -> None:
    w1 = await desk.client("w1")
    step = await w1.execute("find")
    card = completed(await w1.submit(step, {"query": "4521"}))
    assert card.startswith("Иванов Иван Петрович (c1)\nLogin: ivanov\nDepartment: Бухгалтерия")
    step = await w1.execute("find")
    pick = await w1.submit(step, {"query": "иван"})
    assert options(pick, "pick") == ["1", "2", "3"]
    card = completed(await w1.submit(pick, {"pick": "2"}, action="complete"))
    assert card.startswith("Иванова Мария Сергеевна (c2)\nLogin: ivanova")
    # the card made c2 the chat's current customer, as `who` does
    assert await w1.say("new paper jam") == (
        "Ticket #1 opened for @it (Иванова Мария Сергеевна, the current customer)."
    )


async def test_bad_input_gets_one_line_and_changes_nothing(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator = await desk.client("operator")
    good = {"customer": "", "text": "printer jams", "target": "it", "priority": "normal"}
    bad = [
        ({"due": "31.02"}, "Bad due date '31.02': use today, tomorrow, mon..sun, 27.11 or "
         "2026-11-27."),
        ({"customer": "Nobody Atall"}, "No customer matches 'Nobody Atall'."),
        ({"text": "  "}, "Some text is needed."),
        ({"target": "it !urgent"}, "'it !urgent' is not one of the choices for For."),
        ({"priority": "huge"}, "'huge' is not one of the choices for Priority."),
        ({"text": '24" monitor'}, "A quote is not closed."),
    ]  # fmt: skip
    step = await operator.execute("new")
    for change, note in bad:
        step = await operator.submit(step, {**good, **change})
        assert error_note(step) == note
        assert value(step, "text") == " ".join({**good, **change}["text"].split())
    assert await desk.tickets() == []
    step = await operator.submit(step, {**good, "due": "tomorrow"})  # the same form, fixed
    assert completed(step) == "Ticket #1 opened for @it."
    step = await operator.execute("find")
    assert error_note(await operator.submit(step, {"query": "zzzz"})) == (
        "No customer matches 'zzzz'."
    )
    step = await operator.execute("mine")
    assert completed(step) == "No open tickets."  # only routed, not held or targeted
    assert len(await desk.tickets()) == 1

    async def broken(*_args: Any) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(AdhocCommands, "_targets", broken)
    with pytest.raises(IqError) as failed:  # a fault of ours: one line, no traceback
        await operator.execute("new")
    text = failed.value.iq["error"]["text"]
    assert text.startswith("Something went wrong (ref ") and "fire" not in text
    monkeypatch.undo()
    step = await operator.execute("new")  # the bot is still there
    assert "target" in fields(step)


async def test_my_tickets_takes_and_closes_two_at_once(desk: Desk) -> None:
    operator, w1 = await desk.client("operator"), await desk.client("w1")
    for text in ("new printer jams @w1", "new vpn down @w1", "new mouse broken @w2"):
        await operator.say(text)
    step = await w1.execute("mine")
    assert step["command"]["actions"] == {"complete"}
    assert options(step, "tickets") == ["2", "1"]  # as `list mine`: newest first, not #3
    assert options(step, "action") == ["take", "close"]
    labels = [option["label"] for option in fields(step)["tickets"]["options"]]
    assert labels[0] == "#2 [normal, new] vpn down (@it → @w1)"
    done = await w1.submit(step, {"tickets": ["1", "2"], "action": "take"}, "complete")
    assert completed(done) == "#1 is yours now.\n#2 is yours now."
    ids = await desk.staff_ids()
    tickets = await desk.tickets()
    assert [(t.holder_id, t.status) for t in tickets[:2]] == [(ids["w1"], "in progress")] * 2
    step = await w1.execute("mine")
    values = {"tickets": ["1", "2"], "action": "close", "resolution": "replaced the roller"}
    done = await w1.submit(step, values, "complete")
    assert completed(done) == "#1 closed.\n#2 closed."
    assert notes(done) == [("info", "#1 closed.\n#2 closed.")]
    assert [t.status for t in await desk.tickets()] == ["closed", "closed", "new"]
    assert [e.text for e in await desk.events("close")] == ["replaced the roller"] * 2
    assert completed(await w1.execute("mine")) == "No open tickets."
    # a ticket he may not see (#3 is w2's) slipped into the form: the core's answer
    await operator.say("new toner empty @w1")
    step = await w1.execute("mine")
    done = await w1.submit(step, {"tickets": ["3", "4"], "action": "take"}, "complete")
    assert completed(done) == "#3 not found\n#4 is yours now."
    assert notes(done)[0][0] == "warn"  # some went through, some did not
    step = await w1.execute("mine")
    refused = await w1.submit(step, {"tickets": ["3"], "action": "take"}, "complete")
    assert notes(refused) == [("error", "#3 not found")]  # the core's refusal, as an error
    third = (await desk.tickets())[2]
    assert (third.holder_id, third.status) == (None, "new")


async def test_plan_tomorrow_is_for_heads_of_the_person(desk: Desk) -> None:
    head, operator = await desk.client("head_it"), await desk.client("operator")
    step = await head.execute("plan")
    assert options(step, "person") == ["head_it", "w1", "w2"]  # the heads' departments
    values = {"person": "hr1", "text": "check backups", "priority": "high"}
    step = await head.submit(step, values, "complete")  # not one of theirs
    assert completed(step) == "You may plan only for a person of your departments, not @hr1."
    assert await desk.tickets() == []
    step = await head.execute("plan")
    done = await head.submit(step, {**values, "person": "w1"}, "complete")
    assert completed(done) == "Ticket #1 opened for @w1."
    [ticket] = await desk.tickets()
    ids = await desk.staff_ids()
    tomorrow = datetime.now(ZoneInfo(desk.config.schedule.timezone)).date() + timedelta(days=1)
    assert (ticket.target_staff_id, ticket.priority, ticket.due) == (ids["w1"], 3, tomorrow)
    assert ticket.text == "check backups"
    with pytest.raises(IqError) as refused:  # a user: not listed, and refused when tried
        await operator.execute("plan")
    assert refused.value.iq["error"]["condition"] == "forbidden"
    assert refused.value.iq["error"]["text"] == "You may not use this command."
    assert len(await desk.tickets()) == 1


async def test_an_expired_or_foreign_session_is_refused(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator, w1 = await desk.client("operator"), await desk.client("w1")
    step = await operator.execute("new")
    values = {"text": "printer jams", "target": "it", "priority": "normal"}
    with pytest.raises(IqError) as foreign:  # someone else's session id
        await w1.submit(step, values)
    assert foreign.value.iq["error"]["condition"] == "not-allowed"
    monkeypatch.setattr(adhoc, "SESSION_LIFETIME", 0.0)  # ten minutes pass
    with pytest.raises(IqError) as expired:
        await operator.submit(step, values)
    error = expired.value.iq["error"]
    assert error["condition"] == "not-allowed"
    assert error["text"] == "This form has expired (a form waits 1 min for an answer): " + (
        "start the command again."
    )
    assert error.xml.find(f"{{{COMMANDS}}}session-expired") is not None
    with pytest.raises(IqError):  # it is gone, not restarted
        await operator.submit(step, values, action="complete")
    assert await desk.tickets() == []
    monkeypatch.setattr(adhoc, "SESSION_LIFETIME", 600.0)
    step = await operator.execute("new")
    assert completed(await operator.submit(step, values)) == "Ticket #1 opened for @it."
