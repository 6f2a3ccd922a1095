"""`sent_message_ids` against a real Prosody with mod_mam: the bot's own archive keeps
what it sent, with the ids it gave, to people online or offline; a server without MAM
answers None."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slixmpp import JID
from xmpp_client import AccountFactory, ChatClient, ClientFactory

from bot.archive import sent_message_ids
from bot.prosody import ProsodyServer
from bot.receipts import request_acknowledgement

pytestmark = pytest.mark.xmpp


def send(bot: ChatClient, to: str, text: str, message_id: str) -> None:
    message = bot.make_message(mto=JID(to), mbody=text, mtype="chat")
    message["id"] = message_id
    message.send()


async def next_second() -> datetime:
    """Sleep to the start of the next whole second and return it (Prosody stamps archived
    messages with whole seconds)."""
    now = datetime.now(UTC)
    start = now.replace(microsecond=0) + timedelta(seconds=1)
    # a margin: asyncio's monotonic clock may wake a little before the wall clock's second
    await asyncio.sleep((start - now).total_seconds() + 0.02)
    assert datetime.now(UTC) >= start
    return start


async def test_what_the_bot_sent_is_in_its_archive_with_its_ids(
    xmpp_client: ClientFactory, xmpp_account: AccountFactory
) -> None:
    since = datetime.now(UTC)
    bot, alice = await xmpp_client(), await xmpp_client()
    away = xmpp_account("away")  # never logs in: its messages go to offline storage
    me, her = str(bot.boundjid.bare), str(alice.boundjid.bare)
    send(bot, her, "New #1", "n-1")
    bot.send(request_acknowledgement(bot.make_message(mto=JID(her), mbody="New #2"), "n-2"))
    tagged = bot.make_message(mto=JID(her), mbody="New #3", mtype="chat")
    tagged["id"] = "n-3"
    tagged.xml.append(tagged.xml.makeelement("{urn:xmpp:sid:0}origin-id", {"id": "o-3"}))
    tagged.send()
    send(bot, away.jid, "New #4", "n-4")
    alice.say(me, "thanks")  # received by the bot: not among what it sent
    for _ in range(3):
        await alice.expect(from_=me)
    await bot.expect(from_=her)
    await bot.ping_server()  # everything before it has been through the server
    assert await sent_message_ids(bot, her, since) == {"n-1", "n-2", "n-3", "o-3"}
    assert await sent_message_ids(bot, away.jid, since) == {"n-4"}
    naive = since.astimezone(UTC).replace(tzinfo=None)  # a naive time is UTC
    assert await sent_message_ids(bot, f"{her}/phone", naive) == {"n-1", "n-2", "n-3", "o-3"}
    assert await sent_message_ids(bot, xmpp_account("nobody").jid, since) == set()


async def test_messages_before_since_are_left_out(xmpp_client: ClientFactory) -> None:
    bot, alice = await xmpp_client(), await xmpp_client()
    her = str(alice.boundjid.bare)
    send(bot, her, "old", "before")
    await bot.ping_server()
    since = await next_second()
    send(bot, her, "new", "after")
    await bot.ping_server()
    assert await sent_message_ids(bot, her, since) == {"after"}
    assert await sent_message_ids(bot, her, since - timedelta(seconds=2)) == {"before", "after"}


async def test_more_than_one_page(xmpp_client: ClientFactory) -> None:
    bot, alice = await xmpp_client(), await xmpp_client()
    her = str(alice.boundjid.bare)
    since = datetime.now(UTC)
    for number in range(120):
        send(bot, her, f"notice {number}", f"n-{number}")
    await bot.ping_server()
    assert await sent_message_ids(bot, her, since) == {f"n-{n}" for n in range(120)}


async def test_none_without_mam(tmp_path: Path) -> None:
    server = ProsodyServer(tmp_path / "no-mam", mam=False, muc=False)
    server.start()
    try:
        bot = ChatClient(server.register("bot", "pw"), "pw", server.address)
        await bot.start()
        try:
            started = time.monotonic()
            assert await sent_message_ids(bot, "alice@localhost", datetime.now(UTC)) is None
            assert time.monotonic() - started < 2  # an error answer, not a timeout
        finally:
            await bot.stop()
    finally:
        server.stop()


async def test_none_when_the_server_does_not_answer_in_time(xmpp_client: ClientFactory) -> None:
    bot = await xmpp_client()
    bot.add_filter("out", lambda stanza: None if stanza.get_plugin("mam", check=True) else stanza)
    started = time.monotonic()
    assert await sent_message_ids(bot, "alice@localhost", datetime.now(UTC), timeout=0.3) is None
    assert time.monotonic() - started < 1


async def test_asking_before_initial_presence_holds_back_offline_messages(
    xmpp_client: ClientFactory, xmpp_account: AccountFactory
) -> None:
    """A Prosody fact the docstring of sent_message_ids warns about."""
    alice = await xmpp_client()
    bot_account = xmpp_account("bot")
    alice.say(bot_account.jid, "sent while the bot was down")
    await alice.ping_server()
    early = await xmpp_client(bot_account, start=False)
    await early.start(presence=False)
    assert await sent_message_ids(early, str(alice.boundjid.bare), datetime.now(UTC)) == set()
    early.send_presence()
    await early.expect_none(0.5)  # withheld from this session...
    await early.stop()
    late = await xmpp_client(bot_account)  # ...and handed to the next one
    assert (await late.expect()).body == "sent while the bot was down"
    assert await sent_message_ids(late, str(alice.boundjid.bare), datetime.now(UTC)) == set()
    await late.expect_none(0.2)
