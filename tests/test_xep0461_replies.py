"""Replies that land on tickets, from real slixmpp clients through a real Prosody to
`helpdesk run`: a field worker answers a notification (a XEP-0461 reply with its fallback
quote, a quoted `> ` line, a message in the ticket's thread) without typing its number;
a reply to someone else's notification lands nowhere and tells nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from live_desk import bot_config, read, running, seed, staff_accounts
from sqlalchemy import select
from xmpp_client import AccountFactory, ChatClient, ClientFactory, Incoming

from bot.config import Config
from bot.prosody import ProsodyServer
from storage.models import Outbox, Staff, TicketEvent

pytestmark = pytest.mark.xmpp

STAFF = [  # login, role, home department
    ("operator", "user", "ops"),
    ("w1", "user", "it"),
    ("w2", "user", "it"),
    ("hr1", "user", "hr"),
]
ORIGIN_ID = "{urn:xmpp:sid:0}origin-id"


@dataclass
class Desk:
    config: Config
    client: Callable[[str], Coroutine[Any, Any, ChatClient]]

    @property
    def jid(self) -> str:
        return self.config.xmpp.jid

    async def comments(self, ticket: int) -> list[tuple[str, str | None]]:
        """(login, text) of each comment on the ticket, oldest first."""
        return await read(
            self.config,
            select(Staff.login, TicketEvent.text)
            .join(Staff, Staff.id == TicketEvent.actor_id)
            .where(TicketEvent.ticket_id == ticket, TicketEvent.action == "comment")
            .order_by(TicketEvent.id),
        )

    async def chat_rows(self) -> list[Outbox]:
        query = select(Outbox).where(Outbox.channel == "xmpp").order_by(Outbox.id)
        return await read(self.config, query)


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
    await seed(config, STAFF, accounts, ["it", "ops", "hr"])

    async def client(login: str) -> ChatClient:
        made = await xmpp_client(accounts[login])
        made.register_plugin("xep_0461")  # replies, as Conversations and Gajim send them
        return made

    async with running(config):
        yield Desk(config, client)


def reply(client: ChatClient, to: str, notice: Incoming, text: str) -> None:
    """Reply to `notice` as a client that knows XEP-0461: the notice quoted first, that
    quote marked as the fallback for clients that do not."""
    client.plugin["xep_0461"].send_reply(
        reply_to=notice.sender,
        reply_id=notice.stanza["id"],
        fallback=notice.body,
        mto=to,
        mbody=text,
        mtype="chat",
    )


async def test_a_worker_answers_a_notification_three_ways(desk: Desk) -> None:
    operator, w1 = await desk.client("operator"), await desk.client("w1")
    opened = await operator.ask(desk.jid, "new printer on floor 3 jams @it !high", timeout=10)
    assert opened == "Ticket #1 opened for @it."
    notice = await w1.expect(timeout=10, from_=desk.jid)
    assert notice.body.startswith("#1 !high printer on floor 3 jams — from @operator\n")
    assert notice.stanza["thread"] == "helpdesk-ticket-1"

    # 1. XEP-0461, with the fallback quote a client puts in for others
    reply(w1, desk.jid, notice, "done, replaced the roller")
    answer = await w1.expect(timeout=10, from_=desk.jid)
    assert answer.body == "Comment added to #1."
    told = await operator.expect(timeout=10, from_=desk.jid)  # the creator, as for `#1 ...`
    assert told.body == "#1 !high @w1: done, replaced the roller"
    assert told.stanza["thread"] == "helpdesk-ticket-1"

    # 2. a quoted line naming the ticket, as a client without XEP-0461 quotes
    quote = "> " + notice.body.splitlines()[0]
    assert await w1.ask(desk.jid, f"{quote}\nthe toner is low too") == "Comment added to #1."

    # 3. a message in the ticket's thread; a command there is still a command
    in_thread = w1.make_message(mto=desk.jid, mbody="back with a fuser tomorrow", mtype="chat")
    in_thread["thread"] = "helpdesk-ticket-1"
    in_thread.send()
    answer = await w1.expect(timeout=10, from_=desk.jid)
    assert answer.body == "Comment added to #1."
    assert answer.stanza["thread"] == "helpdesk-ticket-1"
    listed = w1.make_message(mto=desk.jid, mbody="list", mtype="chat")
    listed["thread"] = "helpdesk-ticket-1"
    listed.send()
    assert (await w1.expect(timeout=10, from_=desk.jid)).body.startswith("#1 [high, new]")

    assert await desk.comments(1) == [
        ("w1", "done, replaced the roller"),
        ("w1", "the toner is low too"),
        ("w1", "back with a fuser tomorrow"),
    ]


async def test_notifications_carry_their_outbox_key_and_their_tickets_thread(
    desk: Desk,
) -> None:
    operator, w1 = await desk.client("operator"), await desk.client("w1")
    await operator.ask(desk.jid, "new printer jams @it", timeout=10)
    await operator.ask(desk.jid, "new scanner is slow @w1")
    first, second = [await w1.expect(timeout=10, from_=desk.jid) for _ in range(2)]
    await w1.ask(desk.jid, "take #1")
    await operator.ask(desk.jid, "#1 the toner is in the cupboard")
    third = await w1.expect(timeout=10, from_=desk.jid)
    assert third.body == "#1 @operator: the toner is in the cupboard"
    threads = [n.stanza["thread"] for n in (first, second, third)]
    assert threads == ["helpdesk-ticket-1", "helpdesk-ticket-2", "helpdesk-ticket-1"]
    keys = {row.key: row.ticket_id for row in await desk.chat_rows()}
    for notice in (first, second, third):
        origin = notice.stanza.xml.find(ORIGIN_ID)
        assert origin is not None and origin.get("id") == notice.stanza["id"]
        assert keys[notice.stanza["id"]] == int(notice.stanza["thread"].rsplit("-", 1)[1])


async def test_a_reply_to_someone_elses_notification_lands_nowhere(desk: Desk) -> None:
    operator, w1 = await desk.client("operator"), await desk.client("w1")
    w2, hr1 = await desk.client("w2"), await desk.client("hr1")
    await operator.ask(desk.jid, "new printer jams @it", timeout=10)
    notice = await w1.expect(timeout=10, from_=desk.jid)
    await w2.expect(timeout=10, from_=desk.jid)  # w2 may see #1: a member of @it
    usual = "Unknown command 'sneaky'. Type 'help' for the list of commands."
    for other in (w2, hr1):  # w1's notification id, in someone else's reply
        reply(other, desk.jid, notice, "sneaky comment")
        assert (await other.expect(timeout=10, from_=desk.jid)).body == usual
        assert await other.ask(desk.jid, "sneaky comment") == usual  # the very same
    # hr1 may not see #1: a quote or the thread answers as `#1 ...` does, "not found"
    assert await hr1.ask(desk.jid, "> #1 printer jams\nsneaky comment") == "#1 not found"
    in_thread = hr1.make_message(mto=desk.jid, mbody="sneaky comment", mtype="chat")
    in_thread["thread"] = "helpdesk-ticket-1"
    in_thread.send()
    assert (await hr1.expect(timeout=10, from_=desk.jid)).body == "#1 not found"
    assert await hr1.ask(desk.jid, "> #2 nothing\nsneaky comment") == "#2 not found"
    assert await desk.comments(1) == []
    await w1.expect_none(0.3, from_=desk.jid)  # nobody was told of anything
