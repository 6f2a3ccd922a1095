"""Department rooms on a real Prosody MUC, with real slixmpp clients.

Threat covered: someone in a group chat making the bot run helpdesk commands or reveal
anything: a stranger, an occupant whose real JID the room hides, a nick taken over, a JID
claimed inside a message, old room history, the bot's own lines (reply loops)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import slixmpp
from slixmpp import JID
from slixmpp.plugins.xep_0359.stanza import register_plugins as register_stanza_ids
from slixmpp.stanza import Message, Presence
from xmpp_client import Account, AccountFactory, ChatClient, ClientFactory, Incoming

from bot.channels import Envelope, NotConnected, PermanentFailure
from bot.prosody import ProsodyServer
from bot.rooms import HIDDEN_JIDS_NOTICE, DepartmentRooms, room_command, room_message_key
from bot.xmpp import disconnect

pytestmark = pytest.mark.xmpp

NICK = "helpdesk"


async def eventually(check: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        await asyncio.sleep(0.01)


@dataclass
class RoomBot:
    """A plain slixmpp client with DepartmentRooms attached, as HelpdeskBot will have it."""

    client: slixmpp.ClientXMPP
    address: tuple[str, int]
    staff: set[str]
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    seen: list[Message] = field(default_factory=list)  # every group-chat line it got
    presences: dict[str, Presence] = field(default_factory=dict)  # room/nick -> latest
    channel: DepartmentRooms = field(init=False)

    async def handle(self, jid: str, text: str, key: str | None) -> str | None:
        self.calls.append((jid, text, key))
        if text == "slow":
            await asyncio.sleep(0.2)
        return None if text == "quiet" else f"ok {text}"

    async def is_staff(self, bare_jid: str) -> bool:
        return bare_jid in self.staff

    async def connect(self, timeout: float = 10) -> None:
        started = asyncio.get_running_loop().create_future()

        def on_start(_event: object) -> None:
            self.client.send_presence()
            if not started.done():
                started.set_result(None)

        self.client.add_event_handler("session_start", on_start)
        try:
            self.client.connect(*self.address)
            await asyncio.wait_for(started, timeout)
        finally:
            self.client.del_event_handler("session_start", on_start)

    def saw(self, body: str) -> bool:
        return any(msg["body"] == body for msg in self.seen)


BotFactory = Callable[..., Awaitable[RoomBot]]


@pytest.fixture
async def room_bot(
    prosody: ProsodyServer, xmpp_account: AccountFactory
) -> AsyncIterator[BotFactory]:
    """`await room_bot({room: "it"}, staff={jid})`: connected, and in the rooms it can join."""
    bots: list[RoomBot] = []

    async def make(
        rooms: dict[str, str],
        staff: set[str],
        *,
        start: bool = True,
        retry_after: float = 30,
        join_timeout: float = 5,
    ) -> RoomBot:
        account = xmpp_account("bot")
        client = slixmpp.ClientXMPP(account.jid, account.password)
        client.enable_direct_tls = False
        client.plugin["feature_mechanisms"].unencrypted_scram = True
        bot = RoomBot(client, prosody.address, staff)
        bot.channel = DepartmentRooms(
            client, rooms, NICK, bot.handle, bot.is_staff,
            retry_after=retry_after, join_timeout=join_timeout,
        )  # fmt: skip
        client.add_event_handler("groupchat_message", bot.seen.append)
        client.add_event_handler(
            "groupchat_presence", lambda p: bot.presences.__setitem__(str(p["from"]), p)
        )
        bots.append(bot)
        if start:
            await bot.connect()
            await eventually(lambda: all(bot.channel.joined(room) for room in rooms), 5)
        return bot

    yield make
    for bot in bots:
        if bot.client.transport is not None:
            await bot.channel.leave_all(timeout=1)
        await disconnect(bot.client)


def new_room(prosody: ProsodyServer, prefix: str = "dept") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@{prosody.muc_domain}"


async def person(xmpp_client: ClientFactory, account: Account, room: str, nick: str) -> ChatClient:
    client = await xmpp_client(account)
    await client.join_room(room, nick)
    return client


async def bot_line(client: ChatClient, room: str, timeout: float = 5) -> Incoming:
    """The next line the bot posted to `room`, as `client` sees it."""
    return await client.expect(timeout, from_=f"{room}/{NICK}", types=("groupchat",))


def bot_lines(client: ChatClient, room: str) -> list[str]:
    return [
        m.body
        for m in client.drain()
        if m.type == "groupchat" and str(m.sender) == f"{room}/{NICK}"
    ]


# -- addressing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("helpdesk: show #12", "show #12"),
        ("Helpdesk,  list mine ", "list mine"),
        ("!show #12", "show #12"),
        ("  ! take #3", "take #3"),
        ("helpdesk:", None),
        ("!", None),
        ("helpdesk show #12", None),
        ("helpdesks: show #12", None),
        ("ask helpdesk: show #12", None),
        ("the printer jams again", None),
    ],
)
def test_which_lines_address_the_bot(body: str, command: str | None) -> None:
    assert room_command(body, NICK) == command


def test_a_room_key_comes_only_from_the_rooms_own_stanza_id() -> None:
    register_stanza_ids()  # what registering xep_0359 on a client does
    msg = Message()
    msg["stanza_id"]["id"] = "abc"
    msg["stanza_id"]["by"] = "it@conference.localhost"
    key = room_message_key(msg, "it@conference.localhost")
    assert key is not None and key.startswith("muc:")
    assert room_message_key(msg, "hr@conference.localhost") is None
    assert room_message_key(Message(), "it@conference.localhost") is None


# -- posting ---------------------------------------------------------------------------


async def test_posts_to_its_rooms_and_refuses_where_it_is_not(
    prosody: ProsodyServer, xmpp_client: ClientFactory, xmpp_account: AccountFactory,
    room_bot: BotFactory,
) -> None:  # fmt: skip
    room = new_room(prosody)
    owner = await person(xmpp_client, xmpp_account("owner"), room, "owner")
    bot = await room_bot({room: "it"}, set(), start=False)
    with pytest.raises(NotConnected):  # not (yet) in the room: the outbox keeps it
        await bot.channel.send(Envelope("k0", room, "too early"))
    await bot.connect()
    await eventually(lambda: bot.channel.joined(room))
    await owner.occupant_presence(room, NICK)

    await bot.channel.send(Envelope("k1", room, "New #1 for @it [high]"))
    line = await bot_line(owner, room)
    assert line.body == "New #1 for @it [high]"
    assert line.stanza["id"] == "k1"
    with pytest.raises(PermanentFailure):
        await bot.channel.send(Envelope("k2", new_room(prosody, "other"), "not ours"))

    await bot.channel.leave_all()
    assert not bot.channel.joined(room)
    gone = await owner.occupant_presence(room, NICK)
    assert gone["type"] == "unavailable"
    with pytest.raises(NotConnected):
        await bot.channel.send(Envelope("k3", room, "after leaving"))


# -- commands --------------------------------------------------------------------------


async def test_staff_get_the_reply_in_the_room_and_the_handler_their_real_jid(
    prosody: ProsodyServer, xmpp_client: ClientFactory, xmpp_account: AccountFactory,
    room_bot: BotFactory,
) -> None:  # fmt: skip
    room = new_room(prosody)
    owner = await person(xmpp_client, xmpp_account("owner"), room, "owner")
    anna_account = xmpp_account("anna")
    bot = await room_bot({room: "it"}, {anna_account.jid})
    anna = await person(xmpp_client, anna_account, room, "anna")
    real = str(anna.boundjid)

    anna.say_to_room(room, "helpdesk: show #12")
    assert (await bot_line(anna, room)).body == "anna: ok show #12"
    assert (await bot_line(owner, room)).body == "anna: ok show #12"  # the room sees it
    anna.say_to_room(room, "Helpdesk, who 4521")
    assert (await bot_line(anna, room)).body == "anna: ok who 4521"
    anna.say_to_room(room, "!list mine")
    assert (await bot_line(anna, room)).body == "anna: ok list mine"
    assert bot.calls == [(real, "show #12", None), (real, "who 4521", None),
                         (real, "list mine", None)]  # fmt: skip

    # people talking, subject changes, a None reply and the bot's own lines run nothing
    bot.staff.add(str(bot.client.boundjid.bare))  # even were the bot staff itself
    anna.say_to_room(room, "helpdesk is slow today")
    anna.say_to_room(room, "ask helpdesk: why")
    owner.plugin["xep_0045"].set_subject(JID(room), "helpdesk: close #12")
    anna.say_to_room(room, "!quiet")
    await bot.channel.send(Envelope("own-1", room, "!take #5"))
    await bot.channel.send(Envelope("own-2", room, "helpdesk: close #5"))
    anna.say_to_room(room, "!stats")  # the barrier: answered, so all before it was seen
    bodies = [(await bot_line(anna, room)).body for _ in range(3)]
    assert bodies == ["!take #5", "helpdesk: close #5", "anna: ok stats"]
    assert [text for _, text, _ in bot.calls[3:]] == ["quiet", "stats"]


async def test_one_persons_commands_run_in_order(
    prosody: ProsodyServer, xmpp_client: ClientFactory, xmpp_account: AccountFactory,
    room_bot: BotFactory,
) -> None:  # fmt: skip
    room = new_room(prosody)
    anna_account = xmpp_account("anna")
    bot = await room_bot({room: "it"}, {anna_account.jid})
    anna = await person(xmpp_client, anna_account, room, "anna")
    anna.say_to_room(room, "!slow")
    anna.say_to_room(room, "!fast")
    assert (await bot_line(anna, room)).body == "anna: ok slow"
    assert (await bot_line(anna, room)).body == "anna: ok fast"
    assert [text for _, text, _ in bot.calls] == ["slow", "fast"]


async def test_strangers_get_nothing_whatever_they_claim(
    prosody: ProsodyServer, xmpp_client: ClientFactory, xmpp_account: AccountFactory,
    room_bot: BotFactory,
) -> None:  # fmt: skip
    room = new_room(prosody)
    anna_account, boris_account = xmpp_account("anna"), xmpp_account("boris")
    bot = await room_bot({room: "it"}, {anna_account.jid, boris_account.jid})
    anna = await person(xmpp_client, anna_account, room, "anna")
    boris = await person(xmpp_client, boris_account, room, "boris")
    eve = await person(xmpp_client, xmpp_account("eve"), room, "eve")

    eve.say_to_room(room, "helpdesk: list all")
    claim = eve.make_message(mto=JID(room), mbody="!show #1", mtype="groupchat")
    claim["muc"]["jid"] = JID(anna_account.jid)  # a real JID claimed in the message itself
    claim.send()
    boris.say_to_room(room, "!stats")
    assert (await bot_line(boris, room)).body == "boris: ok stats"
    claimed = next(m for m in bot.seen if m["body"] == "!show #1")
    assert claimed["muc"]["jid"] == JID(anna_account.jid)  # Prosody passes the claim on

    # anna leaves and a stranger takes her nick: the nick is not the person
    await anna.stop()
    await boris.occupant_presence(room, "anna")
    await eventually(lambda: boris.room_presences[f"{room}/anna"]["type"] == "unavailable")
    mallory = await person(xmpp_client, xmpp_account("mallory"), room, "anna")
    mallory.say_to_room(room, "helpdesk: show #1")
    boris.say_to_room(room, "!agenda")
    assert (await bot_line(boris, room)).body == "boris: ok agenda"

    assert [(JID(jid).bare, text) for jid, text, _ in bot.calls] == [
        (boris_account.jid, "stats"), (boris_account.jid, "agenda")]  # fmt: skip
    assert bot_lines(eve, room) == ["boris: ok stats", "boris: ok agenda"]
    assert bot_lines(mallory, room) == ["boris: ok agenda"]


async def test_a_room_that_hides_real_jids_takes_no_commands_and_says_so_once(
    prosody: ProsodyServer, xmpp_client: ClientFactory, xmpp_account: AccountFactory,
    room_bot: BotFactory,
) -> None:  # fmt: skip
    room = new_room(prosody)
    owner = await person(xmpp_client, xmpp_account("owner"), room, "owner")
    await owner.configure_room(room, {"muc#roomconfig_whois": "moderators"})
    anna_account = xmpp_account("anna")
    bot = await room_bot({room: "it"}, {anna_account.jid})
    anna = await person(xmpp_client, anna_account, room, "anna")
    # the owner (a moderator) still sees anna's real JID; the bot (a participant) does not
    assert await owner.occupant_real_jid(room, "anna") == anna_account.jid
    await eventually(lambda: f"{room}/anna" in bot.presences)
    assert not bot.presences[f"{room}/anna"]["muc"]["jid"]
    assert not bot.presences[f"{room}/owner"]["muc"]["jid"]

    anna.say_to_room(room, "helpdesk: show #1")
    assert (await bot_line(anna, room)).body == HIDDEN_JIDS_NOTICE
    anna.say_to_room(room, "!show #1")
    await eventually(lambda: bot.saw("!show #1"))
    await bot.channel.send(Envelope("k1", room, "New #2 for @it"))  # it still posts
    assert (await bot_line(anna, room)).body == "New #2 for @it"  # no second notice
    assert bot.calls == []


async def test_history_and_delayed_lines_never_run(
    prosody: ProsodyServer, xmpp_client: ClientFactory, xmpp_account: AccountFactory,
    room_bot: BotFactory,
) -> None:  # fmt: skip
    room = new_room(prosody)
    anna_account = xmpp_account("anna")
    anna = await person(xmpp_client, anna_account, room, "anna")
    anna.say_to_room(room, "helpdesk: close #1")
    anna.say_to_room(room, "!close #2")
    await anna.expect_group(room)
    await anna.expect_group(room)  # the room has both (and keeps them as history)

    bot = await room_bot({room: "it"}, {anna_account.jid})
    late = anna.make_message(mto=JID(room), mbody="!close #3", mtype="groupchat")
    late["delay"]["stamp"] = datetime(2024, 1, 1, tzinfo=UTC)
    late["delay"]["from"] = JID(anna_account.jid)
    late.send()
    anna.say_to_room(room, "!stats")
    assert (await bot_line(anna, room)).body == "anna: ok stats"
    assert [text for _, text, _ in bot.calls] == ["stats"]
    # the bot asked for no history and got none; Prosody passed the client's own delay
    assert not bot.saw("helpdesk: close #1") and not bot.saw("!close #2")
    delayed = [m for m in bot.seen if m["body"] == "!close #3"]
    assert len(delayed) == 1 and delayed[0].get_plugin("delay", check=True) is not None


async def test_a_stanza_id_the_room_does_not_vouch_for_is_no_key(
    prosody: ProsodyServer, xmpp_client: ClientFactory, xmpp_account: AccountFactory,
    room_bot: BotFactory,
) -> None:  # fmt: skip
    room = new_room(prosody)
    anna_account = xmpp_account("anna")
    bot = await room_bot({room: "it"}, {anna_account.jid})
    anna = await person(xmpp_client, anna_account, room, "anna")
    forged = anna.make_message(mto=JID(room), mbody="!show #1", mtype="groupchat")
    forged["stanza_id"]["id"] = "made-up"
    forged["stanza_id"]["by"] = JID(room)
    forged.send()
    assert (await bot_line(anna, room)).body == "anna: ok show #1"
    # without muc_mam Prosody neither adds stanza-ids nor strips a forged one
    got = next(m for m in bot.seen if m["body"] == "!show #1")
    assert got["stanza_id"]["id"] == "made-up"
    assert bot.calls == [(str(anna.boundjid), "show #1", None)]


# -- staying in the rooms --------------------------------------------------------------


async def test_a_reconnect_rejoins(
    prosody: ProsodyServer, xmpp_client: ClientFactory, xmpp_account: AccountFactory,
    room_bot: BotFactory,
) -> None:  # fmt: skip
    room = new_room(prosody)
    anna_account = xmpp_account("anna")
    bot = await room_bot({room: "it"}, {anna_account.jid})
    anna = await person(xmpp_client, anna_account, room, "anna")

    bot.client.abort()  # the connection drops
    await eventually(lambda: not bot.channel.joined(room))
    with pytest.raises(NotConnected):
        await bot.channel.send(Envelope("k1", room, "while away"))
    await eventually(lambda: anna.room_presences[f"{room}/{NICK}"]["type"] == "unavailable")

    await bot.connect()
    await eventually(lambda: bot.channel.joined(room))
    await bot.channel.send(Envelope("k2", room, "back"))
    assert (await bot_line(anna, room)).body == "back"
    anna.say_to_room(room, "!stats")
    assert (await bot_line(anna, room)).body == "anna: ok stats"


async def test_a_kicked_bot_comes_back(
    prosody: ProsodyServer, xmpp_client: ClientFactory, xmpp_account: AccountFactory,
    room_bot: BotFactory,
) -> None:  # fmt: skip
    room = new_room(prosody)
    owner = await person(xmpp_client, xmpp_account("owner"), room, "owner")
    bot = await room_bot({room: "it"}, set(), retry_after=0.1)
    await owner.occupant_presence(room, NICK)
    await owner.plugin["xep_0045"].set_role(JID(room), NICK, "none", timeout=5)
    await eventually(lambda: owner.room_presences[f"{room}/{NICK}"]["type"] == "unavailable")
    assert 307 in owner.room_presences[f"{room}/{NICK}"]["muc"]["status_codes"]  # kicked
    await eventually(lambda: owner.room_presences[f"{room}/{NICK}"]["type"] == "available")
    await eventually(lambda: bot.channel.joined(room))
    await bot.channel.send(Envelope("k1", room, "back again"))
    assert (await bot_line(owner, room)).body == "back again"


async def test_a_room_it_cannot_join_is_retried_and_the_others_work(
    prosody: ProsodyServer, xmpp_client: ClientFactory, xmpp_account: AccountFactory,
    room_bot: BotFactory, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    closed, open_ = new_room(prosody, "closed"), new_room(prosody, "open")
    owner = await person(xmpp_client, xmpp_account("owner"), closed, "owner")
    await owner.configure_room(closed, {"muc#roomconfig_membersonly": True})
    caplog.set_level(logging.INFO, logger="bot.rooms")

    bot = await room_bot({closed: "hr", open_: "it"}, set(), start=False,
                         retry_after=0.1, join_timeout=2)  # fmt: skip
    await bot.connect()
    await eventually(lambda: bot.channel.joined(open_))
    await eventually(lambda: "cannot join " + closed in caplog.text)
    assert "registration-required" in caplog.text
    assert not bot.channel.joined(closed)

    await owner.plugin["xep_0045"].set_affiliation(
        JID(closed), "member", jid=JID(bot.client.boundjid.bare), timeout=5
    )
    await eventually(lambda: bot.channel.joined(closed), 5)
    await bot.channel.send(Envelope("k1", closed, "New #3 for @hr"))
    assert (await bot_line(owner, closed)).body == "New #3 for @hr"
