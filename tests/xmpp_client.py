"""A real slixmpp client for integration tests and benchmarks against a local Prosody."""

# The test API takes `timeout=` arguments on purpose: each wait in a test names its bound.

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import slixmpp
from slixmpp import JID
from slixmpp.stanza import Message, Presence
from slixmpp.types import MessageTypes

from bot.xmpp import disconnect

PLUGINS = ("xep_0030", "xep_0199", "xep_0203", "xep_0359", "xep_0045")
CHAT_TYPES = ("chat", "normal")


@dataclass(frozen=True)
class Account:
    """An account registered on the test server."""

    jid: str
    password: str


# What the `xmpp_account` and `xmpp_client` fixtures (tests/conftest.py) return.
AccountFactory = Callable[..., Account]
ClientFactory = Callable[..., Awaitable["ChatClient"]]


class ClientFailed(RuntimeError):
    """The client could not connect, authenticate or start its session."""


@dataclass(frozen=True)
class Incoming:
    """One received message with a body, as a test wants to look at it."""

    body: str
    sender: JID
    type: str
    stanza: Message

    @property
    def bare(self) -> str:
        """The sender's bare JID (for a room message: the room)."""
        return str(self.sender.bare)

    @property
    def delay(self) -> datetime | None:
        """The XEP-0203 timestamp of a delayed (offline, history) message, if any."""
        delay = self.stanza.get_plugin("delay", check=True)
        if delay is None:
            return None
        stamp: datetime | None = delay["stamp"]
        return stamp

    @property
    def stanza_id(self) -> str | None:
        """The XEP-0359 server-assigned id, if the server added one."""
        sid = self.stanza.get_plugin("stanza_id", check=True)
        return None if sid is None else str(sid["id"])


def _matches(message: Incoming, from_: str | None, types: Iterable[str]) -> bool:
    if message.type not in types:
        return False
    if from_ is None:
        return True
    wanted = JID(from_)
    return message.sender == wanted if wanted.resource else message.bare == wanted.bare


class ChatClient(slixmpp.ClientXMPP):
    """A plaintext loopback client that records what it receives.

    Every message with a body lands in `messages` (an asyncio.Queue). `expect`
    takes the oldest one matching its filter and holds back the others for
    later calls, so nothing a test did not look at is lost.
    """

    def __init__(self, jid: str, password: str, address: tuple[str, int]) -> None:
        super().__init__(jid, password)
        self.address = address
        # Prosody here runs without TLS on loopback (see bot/prosody.py).
        self.enable_direct_tls = False
        self.plugin["feature_mechanisms"].unencrypted_scram = True
        for name in PLUGINS:
            self.register_plugin(name)
        self.messages: asyncio.Queue[Incoming] = asyncio.Queue()
        self._held: list[Incoming] = []
        self.room_presences: dict[str, Presence] = {}
        self._presence_seen = asyncio.Event()
        self._started: asyncio.Future[None] | None = None
        self.add_event_handler("message", self._on_message)
        self.add_event_handler("groupchat_presence", self._on_room_presence)
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("failed_all_auth", self._on_failure)
        self.add_event_handler("connection_failed", self._on_failure)
        # A failed STARTTLS or a closed stream ends here, without reconnecting.
        self.add_event_handler("disconnected", self._on_failure)

    @classmethod
    def for_account(cls, account: Account, address: tuple[str, int]) -> ChatClient:
        return cls(account.jid, account.password, address)

    # -- connection -------------------------------------------------------

    async def start(self, timeout: float = 10, presence: bool = True) -> None:
        """Connect, wait for the session and (by default) send initial presence.

        Offline messages are only delivered after the initial presence.
        """
        self._started = asyncio.get_running_loop().create_future()
        self.connect(*self.address)
        try:
            await asyncio.wait_for(asyncio.shield(self._started), timeout)
        except (TimeoutError, ClientFailed) as error:
            self._started = None
            self.cancel_connection_attempt()
            self.abort()
            if isinstance(error, ClientFailed):
                raise
            raise ClientFailed(f"{self.boundjid.bare}: no session within {timeout}s") from None
        if presence:
            self.send_presence()

    def _on_session_start(self, _event: Any) -> None:
        if self._started is not None and not self._started.done():
            self._started.set_result(None)

    def _on_failure(self, event: Any) -> None:
        if self._started is not None and not self._started.done():
            reason = f"{self.boundjid.bare}: could not log in to {self.address}: {event}"
            self._started.set_exception(ClientFailed(reason))

    async def stop(self, timeout: float = 5) -> None:
        """Close the stream and wait until the connection is gone."""
        await disconnect(self, timeout)

    # -- one-to-one messages ---------------------------------------------

    def _on_message(self, msg: Message) -> None:
        if msg["body"] or msg["type"] == "error":
            incoming = Incoming(str(msg["body"]), msg["from"], str(msg["type"]), msg)
            self.messages.put_nowait(incoming)

    def say(self, to: str, body: str, mtype: MessageTypes = "chat") -> None:
        """Send a message without waiting for anything."""
        self.send_message(mto=JID(to), mbody=body, mtype=mtype)

    async def ask(self, to: str, body: str, timeout: float = 5) -> str:
        """Send `body` to `to` and return the body of the next message from its bare JID."""
        self.say(to, body)
        reply = await self.expect(timeout, from_=str(JID(to).bare))
        return reply.body

    async def expect(
        self,
        timeout: float = 5,
        from_: str | None = None,
        types: Iterable[str] = CHAT_TYPES,
    ) -> Incoming:
        """The oldest message from `from_` (bare or full JID; anyone if None) of `types`."""
        types = tuple(types)
        for index, held in enumerate(self._held):
            if _matches(held, from_, types):
                return self._held.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(self.messages.get(), max(left, 0))
            except TimeoutError:
                who = from_ or "anyone"
                wanted = "/".join(types)
                raise AssertionError(f"no {wanted} message from {who} in {timeout}s") from None
            if _matches(message, from_, types):
                return message
            self._held.append(message)

    async def expect_none(
        self, within: float, from_: str | None = None, types: Iterable[str] = CHAT_TYPES
    ) -> None:
        """Assert that no matching message arrives during `within` seconds."""
        try:
            message = await self.expect(within, from_=from_, types=types)
        except AssertionError:
            return
        raise AssertionError(f"unexpected message from {message.sender}: {message.body!r}")

    async def expect_group(self, room: str, timeout: float = 5) -> Incoming:
        """The next group-chat message from `room`."""
        return await self.expect(timeout, from_=room, types=("groupchat",))

    def drain(self) -> list[Incoming]:
        """Everything received and not yet expected, oldest first."""
        drained, self._held = self._held, []
        while not self.messages.empty():
            drained.append(self.messages.get_nowait())
        return drained

    # -- server features ----------------------------------------------------

    async def ping_server(self, timeout: float = 5) -> float:
        """XEP-0199 ping to our own server; returns the round trip in seconds."""
        rtt: float = await self.plugin["xep_0199"].ping(
            jid=JID(self.boundjid.domain), timeout=timeout
        )
        return rtt

    async def server_roster(self, timeout: float = 5) -> dict[str, str]:
        """The roster as the server has it: bare JID -> subscription ("none", "to",
        "from", "both"), with "+ask" while our own request waits. Fetching it also
        makes this session "interested" (RFC 6121): it then gets roster pushes."""
        iq = self.Iq()
        iq["type"] = "get"
        iq.enable("roster")
        result = await iq.send(timeout=timeout)
        self.event("roster_update", result)
        return {
            str(JID(jid).bare): item["subscription"] + ("+ask" if item["ask"] else "")
            for jid, item in result["roster"]["items"].items()
        }

    # -- group chat ---------------------------------------------------------

    async def join_room(self, room: str, nick: str, timeout: float = 5) -> list[Presence]:
        """Join a MUC room; returns the presences of the occupants already there."""
        muc = self.plugin["xep_0045"]
        _own, _subject, occupants, _history = await muc.join_muc_wait(
            JID(room), nick, maxstanzas=0, timeout=timeout
        )
        for presence in occupants:
            self.room_presences[str(presence["from"])] = presence
        # slixmpp lists our own self-presence among the occupants.
        return [p for p in occupants if p["from"].resource != nick]

    def _on_room_presence(self, presence: Presence) -> None:
        self.room_presences[str(presence["from"])] = presence
        self._presence_seen.set()

    async def occupant_presence(self, room: str, nick: str, timeout: float = 5) -> Presence:
        """The latest presence of `nick` in `room`, waiting for it if need be."""
        occupant = f"{JID(room).bare}/{nick}"
        deadline = time.monotonic() + timeout
        while occupant not in self.room_presences:
            self._presence_seen.clear()
            left = deadline - time.monotonic()
            try:
                await asyncio.wait_for(self._presence_seen.wait(), max(left, 0))
            except TimeoutError:
                raise AssertionError(f"no presence from {occupant} in {timeout}s") from None
        return self.room_presences[occupant]

    async def occupant_real_jid(self, room: str, nick: str, timeout: float = 5) -> str | None:
        """The real bare JID the room discloses for `nick` (None in anonymous rooms)."""
        presence = await self.occupant_presence(room, nick, timeout)
        real = presence["muc"]["jid"]
        return str(real.bare) if real and real.bare else None

    def say_to_room(self, room: str, body: str) -> None:
        self.send_message(mto=JID(room), mbody=body, mtype="groupchat")

    async def configure_room(self, room: str, values: dict[str, Any], timeout: float = 5) -> None:
        """As the room's owner, change its configuration (XEP-0045 muc#owner form), e.g.
        `{"muc#roomconfig_whois": "moderators"}`; fields not named keep their values."""
        muc = self.plugin["xep_0045"]
        form = await muc.get_room_config(JID(room), timeout=timeout)
        for var, value in values.items():
            form.get_fields()[var]["value"] = value
        await muc.set_room_config(JID(room), form, timeout=timeout)


async def connect_all(clients: Iterable[ChatClient], timeout: float = 10) -> None:
    """Start several clients concurrently."""
    await asyncio.gather(*(client.start(timeout) for client in clients))


async def stop_all(clients: Iterable[ChatClient]) -> None:
    """Stop several clients concurrently; never raises for one that is already gone."""
    await asyncio.gather(*(client.stop() for client in clients), return_exceptions=True)
