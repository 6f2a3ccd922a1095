"""`helpdesk run` with every channel, on a real Prosody with real slixmpp clients, a local
SMS provider and a real SMTP server: presence decides the SMS, markers stop the
acknowledgement chase, the department room gets new tickets and answers commands, e-mail
goes out, and the roster follows the staff list."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from live_desk import bot_config, helpdesk_core, read, running, seed, staff_accounts
from slixmpp import JID
from sms_provider import SmsProvider
from smtp_server import SmtpServer
from sqlalchemy import select
from xmpp_client import Account, AccountFactory, ChatClient, ClientFactory

from bot.config import Config
from bot.prosody import ProsodyServer
from storage.models import Outbox

pytestmark = pytest.mark.xmpp

TOKEN = "sms-token"
MARKERS = "urn:xmpp:chat-markers:0"
STAFF = [  # login, role, home department
    ("operator", "user", "ops"),
    ("head_it", "coordinator", "it"),
    ("w1", "user", "it"),
    ("w2", "user", "it"),
]


@dataclass
class Desk:
    config: Config
    accounts: dict[str, Account]
    client: Callable[[str], object]
    sms: SmsProvider
    smtp: SmtpServer
    room: str

    @property
    def jid(self) -> str:
        return self.config.xmpp.jid

    async def outbox(self, channel: str) -> list[Outbox]:
        query = select(Outbox).where(Outbox.channel == channel).order_by(Outbox.id)
        return await read(self.config, query)


async def eventually(check: Callable[[], object], timeout: float = 10, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.02)


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
    with SmtpServer() as smtp:
        async with SmsProvider(token=TOKEN) as sms:
            config = bot_config(
                prosody,
                bot,
                tmp_path,
                xmpp_extra={"rooms": {"it": room}},
                sms={"provider": "generic", "url": f"{sms.url}/send", "token": TOKEN},
                email={"smtp": smtp.address, "starttls": False, "from": "hd@example.test"},
                escalation={"ack_within": {"urgent": "2s", "high": "1h"}},
            )
            await seed(config, STAFF, accounts, ["it", "ops"], phones=True)
            async with helpdesk_core(config) as core:
                await core.run_admin("staff", ["set", "head_it", "email", "head@example.test"])
                await core.run_admin("staff", ["set", "head_it", "mail", "all"])

            async def client(login: str) -> ChatClient:
                return await xmpp_client(accounts[login])

            async with running(config):
                yield Desk(config, accounts, client, sms, smtp, room)


def subscribed(client: ChatClient, jid: str) -> bool:
    item = client.client_roster[JID(jid).bare]
    return item["subscription"] in ("both", "from")


async def test_urgent_work_for_someone_offline_goes_by_sms(desk: Desk) -> None:
    operator = await desk.client("operator")
    w1, head = await desk.client("w1"), await desk.client("head_it")
    assert (await operator.ask(desk.jid, "help", timeout=10)).startswith("Commands")
    await eventually(lambda: subscribed(w1, desk.jid), what="the bot subscribed to w1")
    await eventually(lambda: subscribed(head, desk.jid), what="the bot subscribed to head")
    await w1.stop()  # w1 goes offline
    await asyncio.sleep(0.3)  # the server tells the bot
    reply = await operator.ask(desk.jid, "new server room flooded @w1 !urgent")
    assert reply == "Ticket #1 opened for @w1."
    await eventually(lambda: desk.sms.messages, what="the SMS")
    await head.expect(timeout=10, from_=desk.jid)
    await asyncio.sleep(0.5)  # an SMS to the head (online) would have come by now
    assert [(m.to, m.text) for m in desk.sms.messages] == [
        ("+79160000002", "#1 !urgent server room flooded - from @operator New for @w1 [urgent]")
    ]
    w1 = await desk.client("w1")  # back: the chat notice waited on the server
    notice = await w1.expect(timeout=10, from_=desk.jid)
    assert notice.body == "#1 !urgent server room flooded — from @operator\nNew for @w1 [urgent]"
    # w1's initial presence went out before this, on the same stream: the bot has it
    assert (await w1.ask(desk.jid, "help", timeout=10)).startswith("Commands")
    assert await operator.ask(desk.jid, "new ups beeps @w1 !urgent") == "Ticket #2 opened for @w1."
    assert (await w1.expect(timeout=10, from_=desk.jid)).body.startswith("#2 !urgent ups beeps")
    await asyncio.sleep(0.5)
    assert len(desk.sms.messages) == 1  # online: chat only


async def test_a_displayed_marker_stops_the_acknowledgement_chase(desk: Desk) -> None:
    operator = await desk.client("operator")
    w1, w2 = await desk.client("w1"), await desk.client("w2")
    head = await desk.client("head_it")
    assert (await operator.ask(desk.jid, "help", timeout=10)).startswith("Commands")
    for client in (w1, w2, head):  # all online: no SMS for being offline
        await eventually(lambda c=client: subscribed(c, desk.jid), what="presence")
    await operator.ask(desk.jid, "new printer on fire @w1 !urgent")
    await operator.ask(desk.jid, "new mail down @w2 !urgent")
    first = await w1.expect(timeout=10, from_=desk.jid)
    await w2.expect(timeout=10, from_=desk.jid)
    assert first.stanza.xml.find("{urn:xmpp:receipts}request") is not None
    assert first.stanza.xml.find(f"{{{MARKERS}}}markable") is not None
    marker = w1.make_message(mto=desk.jid, mtype="chat")
    marker.xml.append(ET.Element(f"{{{MARKERS}}}displayed", {"id": first.stanza["id"]}))
    marker.send()
    # w2 read nothing: after 2 s an SMS, after 4 s the head hears of it; w1 is left alone
    escalation = await head.expect(timeout=40, from_=desk.jid)
    while "by @w2" not in escalation.body:
        escalation = await head.expect(timeout=40, from_=desk.jid)
    assert escalation.body.startswith("#2 !urgent mail down — neither read nor taken by @w2 in")
    assert [m.to for m in desk.sms.messages] == ["+79160000003"]
    rows = {row.ticket_id: row for row in await desk.outbox("xmpp") if row.ack_state}
    assert rows[1].displayed_at is not None and rows[1].ack_state == "done"
    assert rows[2].displayed_at is None and rows[2].ack_state == "done"


async def test_the_department_room_gets_new_tickets_and_answers_staff(desk: Desk) -> None:
    operator = await desk.client("operator")
    head = await desk.client("head_it")
    await operator.ask(desk.jid, "help", timeout=10)  # the bot is online
    await head.join_room(desk.room, "head")
    bot_nick = JID(desk.jid).user
    await head.occupant_presence(desk.room, bot_nick, timeout=10)
    await operator.ask(desk.jid, "new printer jams @it")
    posted = await head.expect_group(desk.room, timeout=10)
    assert posted.body == "#1 printer jams — from @operator\nNew for @it [normal]"
    head.say_to_room(desk.room, f"{bot_nick}: show #1")
    answer = await head.expect_group(desk.room, timeout=10)
    while answer.sender.resource != bot_nick:  # our own line comes back first
        answer = await head.expect_group(desk.room, timeout=10)
    assert answer.body.startswith("head: #1 [normal, new]")


async def test_email_goes_to_those_who_chose_it(desk: Desk) -> None:
    operator = await desk.client("operator")
    await operator.ask(desk.jid, "new vpn is down @it", timeout=10)
    await eventually(lambda: desk.smtp.received, what="the e-mail")
    mail = desk.smtp.received[0]
    assert mail.recipients == ["head@example.test"]
    assert mail.message["Subject"] == "#1 vpn is down — from @operator"
