"""StaffPresence on a real Prosody: who may subscribe to the bot, the roster kept equal to
the staff list, and presence followed through away, offline, reconnects.

Threat covered: a stranger must never get a presence subscription to the bot (nor the
bot one to them), and a stranger's presence must never make them count as online."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from slixmpp.stanza import Presence
from xmpp_client import Account, AccountFactory, ChatClient, ClientFactory

from bot.presence import StaffPresence

pytestmark = pytest.mark.xmpp


async def eventually(check: Callable[[], bool], what: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.01)


@dataclass
class Desk:
    """The bot's side: a plain client with StaffPresence attached, and the staff list."""

    bot: ChatClient
    staff: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)
    presence: StaffPresence = field(init=False)

    def __post_init__(self) -> None:
        self.presence = StaffPresence(self.bot, self.is_staff)

    @property
    def jid(self) -> str:
        return str(self.bot.boundjid.bare)

    async def is_staff(self, jid: str) -> bool:
        self.asked.append(jid)
        return jid in self.staff


@pytest.fixture
async def desk(xmpp_client: ClientFactory, xmpp_account: AccountFactory) -> Desk:
    bot = await xmpp_client(xmpp_account("bot"), start=False)
    desk = Desk(bot)
    await bot.start()
    return desk


async def person(xmpp_client: ClientFactory, account: Account) -> ChatClient:
    """A client like a real one: online, roster fetched, slixmpp's defaults (it accepts
    every subscription request and subscribes back)."""
    client = await xmpp_client(account)
    await client.server_roster()
    return client


async def befriend(desk: Desk, client: ChatClient) -> None:
    """`client` (staff) subscribes to the bot; wait until both sides see each other."""
    jid = str(client.boundjid.bare)
    client.send_presence(pto=desk.jid, ptype="subscribe")
    await eventually(lambda: desk.presence.available(jid), f"the bot sees {jid} online")


async def test_staff_subscription_is_accepted_and_returned(
    desk: Desk, xmpp_client: ClientFactory, xmpp_account: AccountFactory
) -> None:
    account = xmpp_account("alice")
    desk.staff.add(account.jid)
    alice = await person(xmpp_client, account)
    requests: list[str] = []
    alice.add_event_handler(
        "roster_subscription_request", lambda p: requests.append(str(p["from"].bare))
    )
    await befriend(desk, alice)
    assert desk.asked == [account.jid]
    assert requests == [desk.jid]  # the bot asked back
    assert (await desk.bot.server_roster())[account.jid] == "both"
    assert (await alice.server_roster())[desk.jid] == "both"


async def test_available_follows_away_offline_and_back(
    desk: Desk, xmpp_client: ClientFactory, xmpp_account: AccountFactory
) -> None:
    account = xmpp_account("alice")
    desk.staff.add(account.jid)
    alice = await person(xmpp_client, account)
    await befriend(desk, alice)
    item = desk.bot.client_roster[account.jid]

    async def seen_as(show: str) -> None:
        await eventually(lambda: {r["show"] for r in item.resources.values()} == {show}, show)

    for show in ("away", "xa", "dnd", "chat"):
        alice.send_presence(pshow=show)
        await seen_as(show)
        assert desk.presence.available(account.jid), show
    phone = await xmpp_client(account)  # a second resource
    await eventually(lambda: len(item.resources) == 2, "two resources")
    await alice.stop()
    await eventually(lambda: len(item.resources) == 1, "one resource left")
    assert desk.presence.available(account.jid)
    await phone.stop()
    await eventually(lambda: not desk.presence.available(account.jid), "alice offline")
    again = await xmpp_client(account)
    await eventually(lambda: desk.presence.available(account.jid), "alice back")
    again.send_presence(ptype="unavailable")  # offline without closing the stream
    await eventually(lambda: not desk.presence.available(account.jid), "alice unavailable")


async def test_presence_is_rebuilt_after_the_bot_reconnects(
    desk: Desk, xmpp_client: ClientFactory, xmpp_account: AccountFactory
) -> None:
    account = xmpp_account("alice")
    desk.staff.add(account.jid)
    alice = await person(xmpp_client, account)
    await befriend(desk, alice)
    await desk.bot.stop()
    assert not desk.presence.available(account.jid)  # cleared with the connection
    await desk.bot.start()
    await eventually(lambda: desk.presence.available(account.jid), "alice seen again")


async def test_a_stranger_gets_no_subscription_and_does_not_count(
    desk: Desk, xmpp_client: ClientFactory, xmpp_account: AccountFactory
) -> None:
    account = xmpp_account("stranger")
    stranger = await person(xmpp_client, account)
    requests: list[Presence] = []
    stranger.add_event_handler("roster_subscription_request", requests.append)
    refused = asyncio.Event()
    stranger.add_event_handler("presence_unsubscribed", lambda _p: refused.set())
    stranger.send_presence(pto=desk.jid, ptype="subscribe")
    await asyncio.wait_for(refused.wait(), 5)
    assert desk.asked == [account.jid]
    assert (await stranger.server_roster()).get(desk.jid) == "none"
    assert account.jid not in await desk.bot.server_roster()
    stranger.send_presence(pto=desk.jid, pshow="chat")  # directed presence, no subscription
    item = desk.bot.client_roster[account.jid]
    await eventually(lambda: bool(item.resources), "the bot got the directed presence")
    assert not desk.presence.available(account.jid)
    assert requests == []  # the bot never asked for the stranger's presence


async def test_a_request_made_while_the_bot_was_away_is_still_refused(
    desk: Desk, xmpp_client: ClientFactory, xmpp_account: AccountFactory
) -> None:
    account = xmpp_account("stranger")
    stranger = await person(xmpp_client, account)
    refused = asyncio.Event()
    stranger.add_event_handler("presence_unsubscribed", lambda _p: refused.set())
    await desk.bot.stop()
    stranger.send_presence(pto=desk.jid, ptype="subscribe")
    await stranger.ping_server()  # the server has stored the request
    await desk.bot.start()  # Prosody hands pending requests over at initial presence
    await asyncio.wait_for(refused.wait(), 5)
    assert account.jid not in await desk.bot.server_roster()


async def test_sync_adds_staff_and_removes_the_others(
    desk: Desk, xmpp_client: ClientFactory, xmpp_account: AccountFactory
) -> None:
    alice_account, bob, carol = (xmpp_account(n) for n in ("alice", "bob", "carol"))
    desk.staff |= {alice_account.jid, bob.jid, carol.jid}
    alice = await person(xmpp_client, alice_account)  # online; bob and carol are not
    await desk.presence.sync({alice_account.jid.upper(), bob.jid, carol.jid, "not a jid@"})
    item = desk.bot.client_roster[alice_account.jid]
    await eventually(lambda: desk.presence.available(alice_account.jid), "alice online")
    await eventually(lambda: item["from"], "alice's request back accepted")
    roster = await desk.bot.server_roster()
    assert roster == {alice_account.jid: "both", bob.jid: "none+ask", carol.jid: "none+ask"}
    await desk.presence.sync({bob.jid, carol.jid})  # unchanged: no new request goes out
    desk.staff = {bob.jid}
    await desk.presence.sync({bob.jid})
    assert await desk.bot.server_roster() == {bob.jid: "none+ask"}
    assert not desk.presence.available(alice_account.jid)
    await eventually(lambda: not alice.client_roster[desk.jid]["from"], "alice's roster push")
    assert (await alice.server_roster()).get(desk.jid, "none") == "none"
