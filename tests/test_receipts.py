"""Receipts (XEP-0184) and chat markers (XEP-0333) on notifications, on a real Prosody:
what the recipient's client gets, what reaches `on_ack`, and that receipt- or
marker-only messages are never taken for commands."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from slixmpp import JID
from slixmpp.stanza import Message
from xmpp_client import Account, AccountFactory, ChatClient, ClientFactory

from bot.config import Secret, XmppConfig
from bot.prosody import ProsodyServer
from bot.receipts import AckKind, Acknowledgements, request_acknowledgement
from bot.xmpp import HelpdeskBot

pytestmark = pytest.mark.xmpp

Ack = tuple[str, str, AckKind]


class AckLog:
    """An `on_ack` that records what it is told."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Ack] = asyncio.Queue()

    async def __call__(self, sender: str, message_id: str, kind: AckKind) -> None:
        await self.queue.put((sender, message_id, kind))

    async def next(self, timeout: float = 5) -> Ack:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def none(self, within: float) -> None:
        await asyncio.sleep(within)
        assert self.queue.empty(), self.queue.get_nowait()


async def phone(xmpp_client: ClientFactory, account: Account | None = None) -> ChatClient:
    """A person's client that answers receipt requests and can send chat markers."""
    client = await xmpp_client(account, start=False)
    client.register_plugin("xep_0184")
    client.register_plugin("xep_0333")
    await client.start()
    return client


def notify(bot: ChatClient, to: str, text: str, key: str) -> None:
    message = bot.make_message(mto=JID(to), mbody=text, mtype="chat")
    request_acknowledgement(message, key).send()


def send_marker(client: ChatClient, to: str, marker: str, message_id: str) -> None:
    client.plugin["xep_0333"].send_marker(JID(to), message_id, marker, mtype="chat")


@pytest.fixture
async def bot(xmpp_client: ClientFactory) -> tuple[ChatClient, AckLog]:
    acks = AckLog()
    client = await xmpp_client(start=False)
    Acknowledgements(client, acks)
    await client.start()
    return client, acks


async def test_the_recipients_receipt_and_markers_reach_on_ack(
    bot: tuple[ChatClient, AckLog], xmpp_client: ClientFactory
) -> None:
    desk, acks = bot
    alice = await phone(xmpp_client)
    me, her = str(desk.boundjid.bare), str(alice.boundjid.bare)
    notify(desk, her, "New #1 for @it", "outbox-1")
    got = (await alice.expect(from_=me)).stanza
    assert (got["id"], got["body"], got["request_receipt"]) == ("outbox-1", "New #1 for @it", True)
    assert got.xml.find("{urn:xmpp:chat-markers:0}markable") is not None
    origin = got.xml.find("{urn:xmpp:sid:0}origin-id")
    assert origin is not None and origin.get("id") == "outbox-1"
    assert await acks.next() == (her, "outbox-1", "received")  # alice's client auto-acked
    send_marker(alice, me, "received", "outbox-1")
    assert await acks.next() == (her, "outbox-1", "received")
    send_marker(alice, me, "displayed", "outbox-1")
    assert await acks.next() == (her, "outbox-1", "displayed")
    send_marker(alice, me, "acknowledged", "outbox-1")
    assert await acks.next() == (her, "outbox-1", "displayed")
    await acks.none(0.2)


async def test_a_marker_from_someone_else_names_that_someone(
    bot: tuple[ChatClient, AckLog], xmpp_client: ClientFactory
) -> None:
    desk, acks = bot
    alice, mallory = await phone(xmpp_client), await phone(xmpp_client)
    me = str(desk.boundjid.bare)
    mallory.plugin["xep_0184"].auto_ack = False
    notify(desk, str(alice.boundjid.bare), "New #2", "outbox-2")
    await acks.next()  # alice's receipt
    send_marker(mallory, me, "displayed", "outbox-2")
    ack = await acks.next()
    assert ack == (str(mallory.boundjid.bare), "outbox-2", "displayed")
    forged = mallory.make_message(mto=JID(me), mtype="chat")
    forged["receipt"] = "outbox-2"
    forged.send()
    assert await acks.next() == (str(mallory.boundjid.bare), "outbox-2", "received")


async def test_acks_sent_while_the_bot_was_down_arrive_when_it_is_back(
    xmpp_client: ClientFactory, xmpp_account: AccountFactory
) -> None:
    alice = await phone(xmpp_client)
    her, account = str(alice.boundjid.bare), xmpp_account("bot")
    send_marker(alice, account.jid, "displayed", "outbox-4")
    receipt = alice.make_message(mto=JID(account.jid), mtype="chat")
    receipt["receipt"] = "outbox-5"
    receipt.send()
    await alice.ping_server()  # both are in the bot's offline storage now
    acks = AckLog()
    desk = await xmpp_client(account, start=False)
    Acknowledgements(desk, acks)
    await desk.start()
    assert [await acks.next(), await acks.next()] == [
        (her, "outbox-4", "displayed"),
        (her, "outbox-5", "received"),
    ]


async def test_error_bounces_and_markers_without_an_id_are_not_acks(
    bot: tuple[ChatClient, AckLog], xmpp_client: ClientFactory
) -> None:
    desk, acks = bot
    alice = await phone(xmpp_client)
    me, her = str(desk.boundjid.bare), str(alice.boundjid.bare)
    seen: list[Message] = []
    desk.add_event_handler("marker_displayed", seen.append)
    # a bounce goes to the full JID (Prosody drops errors sent to a bare JID)
    error = alice.make_message(mto=desk.boundjid, mbody="bounced", mtype="error")
    error["displayed"]["id"] = "outbox-3"
    error.send()
    no_id = alice.make_message(mto=JID(me), mtype="chat")
    no_id.enable("displayed")
    no_id.send()
    assert (await desk.expect(from_=her, types=("error",))).body == "bounced"
    await alice.ping_server()
    assert len(seen) == 2  # both arrived and were parsed as markers
    await acks.none(0.2)


@pytest.fixture
async def helpdesk_bot(
    prosody: ProsodyServer, xmpp_account: AccountFactory
) -> AsyncIterator[tuple[HelpdeskBot, AckLog, list[str]]]:
    account = xmpp_account("bot")
    config = XmppConfig(
        jid=account.jid,
        password=Secret(account.password),
        server=f"{prosody.host}:{prosody.c2s_port}",
        tls="none",
    )
    commands: list[str] = []

    async def echo(_sender: str, text: str, _key: str | None) -> str:
        commands.append(text)
        return f"echo: {text}"

    acks = AckLog()
    helpdesk = HelpdeskBot(config, echo)
    helpdesk.register_plugin("xep_0184", {"auto_request": True})  # overridden below
    Acknowledgements(helpdesk, acks)
    helpdesk.start()
    await asyncio.wait_for(helpdesk.online.wait(), 10)
    yield helpdesk, acks, commands
    await helpdesk.stop()


async def test_receipt_and_marker_only_messages_are_not_commands(
    helpdesk_bot: tuple[HelpdeskBot, AckLog, list[str]], xmpp_client: ClientFactory
) -> None:
    helpdesk, acks, commands = helpdesk_bot
    alice = await phone(xmpp_client)
    bot_jid, her = helpdesk.boundjid.bare, str(alice.boundjid.bare)
    receipts: list[Message] = []
    alice.add_event_handler("receipt_received", receipts.append)
    send_marker(alice, bot_jid, "displayed", "outbox-9")
    only_receipt = alice.make_message(mto=JID(bot_jid), mtype="chat")
    only_receipt["receipt"] = "outbox-8"
    only_receipt.send()
    assert {await acks.next(), await acks.next()} == {
        (her, "outbox-9", "displayed"),
        (her, "outbox-8", "received"),
    }
    command = alice.make_message(mto=JID(bot_jid), mbody="help", mtype="chat")
    command["id"] = "cmd-1"
    command["request_receipt"] = True
    command.send()
    reply = await alice.expect(from_=bot_jid)
    assert (reply.body, reply.stanza["request_receipt"]) == ("echo: help", False)
    await alice.expect_none(0.3, from_=bot_jid)
    assert commands == ["help"]
    assert [r["receipt"] for r in receipts] == ["cmd-1"]  # the bot acked the command once
    await acks.none(0.1)  # and took nothing of its own for an ack
