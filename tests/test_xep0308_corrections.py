"""XEP-0308 corrections from real slixmpp clients through a real Prosody to `helpdesk run`:
a corrected command is never run a second time, in one-to-one chat (one line says so) or
in a department room (silently), and a stranger's correction is not answered."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from live_desk import bot_config, read, running, seed, staff_accounts
from slixmpp import JID
from slixmpp.types import MessageTypes
from sqlalchemy import select
from xmpp_client import AccountFactory, ChatClient, ClientFactory

from bot.config import Config
from bot.prosody import ProsodyServer
from storage.models import Ticket

pytestmark = pytest.mark.xmpp

STAFF = [("operator", "user", "ops"), ("head_it", "coordinator", "it"), ("w1", "user", "it")]
NOTE = "Corrections are not run as commands: send the command again as a new message."


@dataclass
class Desk:
    config: Config
    client: Callable[[str], Coroutine[Any, Any, ChatClient]]
    room: str

    @property
    def jid(self) -> str:
        return self.config.xmpp.jid

    async def tickets(self) -> list[str]:
        """The text of every ticket, by number."""
        return await read(self.config, select(Ticket.text).order_by(Ticket.id))


@pytest.fixture
async def desk(
    prosody: ProsodyServer,
    xmpp_account: AccountFactory,
    xmpp_client: ClientFactory,
    tmp_path: Path,
) -> AsyncIterator[Desk]:
    accounts = staff_accounts(xmpp_account, STAFF)
    bot = xmpp_account("bot")
    room = f"it-{JID(bot.jid).user}@{prosody.muc_domain}"
    config = bot_config(prosody, bot, tmp_path, xmpp_extra={"rooms": {"it": room}})
    await seed(config, STAFF, accounts, ["it", "ops"])

    async def client(login: str) -> ChatClient:
        made = await xmpp_client(accounts[login]) if login else await xmpp_client()
        made.register_plugin("xep_0308")
        return made

    async with running(config):
        yield Desk(config, client, room)


def send(client: ChatClient, to: str, body: str, mid: str, mtype: MessageTypes = "chat") -> None:
    message = client.make_message(mto=JID(to), mbody=body, mtype=mtype)
    message["id"] = mid
    message.send()


def correct(client: ChatClient, to: str, body: str, of: str, mtype: MessageTypes = "chat") -> None:
    """What a client sends when its user edits the message `of` (XEP-0308)."""
    correction = client.plugin["xep_0308"].build_correction(
        id_to_replace=of, mto=JID(to), mtype=mtype, mbody=body
    )
    correction.send()


async def test_a_corrected_command_is_not_run_twice(desk: Desk) -> None:
    operator, w1 = await desk.client("operator"), await desk.client("w1")
    assert (await operator.ask(desk.jid, "help", timeout=10)).startswith("Commands")
    send(operator, desk.jid, "new printer jams @it", "cmd-1")
    assert (await operator.expect(timeout=10, from_=desk.jid)).body == "Ticket #1 opened for @it."
    correct(operator, desk.jid, "new printer on floor 3 jams @it", of="cmd-1")
    assert (await operator.expect(timeout=10, from_=desk.jid)).body == NOTE
    assert await desk.tickets() == ["printer jams"]  # neither a second ticket nor an edit
    assert (await w1.expect(timeout=10, from_=desk.jid)).body.startswith("#1 printer jams")
    await w1.expect_none(0.5, from_=desk.jid)  # one notification: one ticket

    # a correction of a command that failed is not run either: it is sent anew
    send(operator, desk.jid, "nwe scanner is slow @it", "cmd-2")
    assert (await operator.expect(from_=desk.jid)).body.startswith("Unknown command 'nwe'")
    correct(operator, desk.jid, "new scanner is slow @it", of="cmd-2")
    assert (await operator.expect(from_=desk.jid)).body == NOTE
    assert await operator.ask(desk.jid, "new scanner is slow @it") == "Ticket #2 opened for @it."
    assert await desk.tickets() == ["printer jams", "scanner is slow"]


async def test_a_strangers_correction_gets_no_answer(desk: Desk) -> None:
    stranger = await desk.client("")
    correct(stranger, desk.jid, "list", of="x-1")
    await stranger.expect_none(1.0, from_=desk.jid)
    refusal = await stranger.ask(desk.jid, "list")
    assert refusal == "Sorry, this is a private service for the company's staff."


async def test_a_correction_in_a_department_room_is_not_run(desk: Desk) -> None:
    head = await desk.client("head_it")
    assert (await head.ask(desk.jid, "help", timeout=10)).startswith("Commands")
    await head.join_room(desk.room, "head")
    bot_nick = JID(desk.jid).user
    await head.occupant_presence(desk.room, bot_nick, timeout=10)

    async def bot_line() -> str:
        line = await head.expect_group(desk.room, timeout=10)
        while line.sender.resource != bot_nick:  # our own lines come back too
            line = await head.expect_group(desk.room, timeout=10)
        return line.body

    send(head, desk.room, "!new projector is dead @it", "room-1", mtype="groupchat")
    assert await bot_line() == "head: Ticket #1 opened for @it."
    assert (await bot_line()).startswith("#1 projector is dead — from @head_it")  # the post
    correct(head, desk.room, "!new projector in 301 is dead @it", of="room-1", mtype="groupchat")
    send(head, desk.room, "!list", "room-2", mtype="groupchat")  # answered after it, alone
    assert (await bot_line()).startswith("head: #1 [normal, new] projector is dead")
    assert await desk.tickets() == ["projector is dead"]
