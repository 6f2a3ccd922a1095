"""Department rooms (XEP-0045): the bot posts there and takes commands from known staff."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import slixmpp
from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout, PresenceError
from slixmpp.stanza import Message, Presence

from bot.channels import Envelope, NotConnected, PermanentFailure, TemporaryFailure
from bot.replies import is_correction
from bot.xmpp import Handler
from commands.i18n import t

log = logging.getLogger(__name__)

HIDDEN_JIDS_NOTICE = t("en", "room.hidden_jids")  # bot/app.py passes the configured language
JOIN_TIMEOUT = 10.0
RETRY_AFTER = 30.0
RETRY_MAX = 300.0
SEND_TIMEOUT = 10.0
LEAVE_TIMEOUT = 5.0
SELF_PRESENCE = 110  # XEP-0045 status codes
NICK_CHANGED = 303
STANZA_IDS = "urn:xmpp:sid:0"
_SUBJECT = "{jabber:client}subject"


def room_command(body: str, nick: str) -> str | None:
    """The command in a group-chat line addressed to the bot (`nick: show #1`,
    `nick, show #1`, `!show #1`), without the address; None for anything else."""
    text = body.strip()
    head, rest = text[: len(nick)], text[len(nick) :]
    if text.startswith("!"):
        command = text[1:]
    elif head.casefold() == nick.casefold() and rest[:1] in (":", ","):
        command = rest[1:]
    else:
        return None
    return command.strip() or None


def room_message_key(msg: Message, room: str) -> str | None:
    """The room's XEP-0359 stanza-id as a message key, kept apart from one-to-one keys."""
    sid = msg.get_plugin("stanza_id", check=True)
    if sid is None or not sid["id"] or str(sid["by"]) != room:
        return None
    return "muc:" + hashlib.sha256(f"{room}|{sid['id']}".encode()).hexdigest()[:40]


@dataclass
class _Room:
    """What the bot knows about one configured room; the server's word, from presences."""

    jid: str
    department: str
    nick: str  # ours, as the room knows it
    joined: bool = False
    leaving: bool = False
    stanza_ids: bool = False  # the room vouches for the stanza-ids it adds
    told_hidden: bool = False  # the hidden-JIDs notice went out (once per process)
    occupants: dict[str, str | None] = field(default_factory=dict)  # nick -> real JID
    left: asyncio.Event = field(default_factory=asyncio.Event)
    refused: asyncio.Future[str] | None = None  # while a join waits for the answer
    joining: asyncio.Task[None] | None = None


class DepartmentRooms:
    """Keeps the bot in its department rooms and serves them: a Channel for the outbox,
    and commands addressed as `nick: ...`, `nick, ...` or `!...`.

    A command runs only when the room discloses the occupant's real JID to the bot (in
    their presence: rooms whose JIDs anyone may see, or any room where the bot is a
    moderator) and that JID is staff; rights are the handler's business."""

    def __init__(
        self,
        client: slixmpp.ClientXMPP,
        rooms: Mapping[str, str],
        nick: str,
        handler: Handler,
        is_staff: Callable[[str], Awaitable[bool]],
        *,
        hidden_jids_notice: str = HIDDEN_JIDS_NOTICE,
        join_timeout: float = JOIN_TIMEOUT,
        retry_after: float = RETRY_AFTER,
        send_timeout: float = SEND_TIMEOUT,
    ) -> None:
        self.client = client
        for plugin in ("xep_0030", "xep_0203", "xep_0359", "xep_0045"):
            if plugin not in client.plugin:
                client.register_plugin(plugin)
        self._rooms = {
            _bare(room): _Room(_bare(room), department, nick) for room, department in rooms.items()
        }
        self._nick = nick
        self._handler = handler
        self._is_staff = is_staff
        self._notice = hidden_jids_notice
        self._join_timeout = join_timeout
        self._retry_after = retry_after
        self._send_timeout = send_timeout
        self._online = False
        self._closed = False
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._echoes: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        client.add_event_handler("session_start", self._on_session_start)
        client.add_event_handler("disconnected", self._on_disconnected)
        client.add_event_handler("groupchat_presence", self._on_presence)
        client.add_event_handler("presence_error", self._on_presence_error)
        client.add_event_handler("groupchat_message", self._on_message)
        client.add_event_handler("groupchat_message_error", self._on_message_error)

    def joined(self, room: str) -> bool:
        state = self._rooms.get(_bare(room))
        return state is not None and state.joined

    async def send(self, envelope: Envelope) -> None:
        """Post `envelope.text` to the room `envelope.address` (message id `envelope.key`)
        and return once the room reflects it back."""
        room = self._rooms.get(_bare(envelope.address))
        if room is None:
            raise PermanentFailure(f"{envelope.address} is not one of the bot's rooms")
        if not room.joined:
            raise NotConnected(room.jid)
        echo: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._echoes[(room.jid, envelope.key)] = echo
        try:
            self._post(room, envelope.text, envelope.key)
            await asyncio.wait_for(echo, self._send_timeout)
        except TimeoutError:
            raise TemporaryFailure(f"{room.jid} did not take the message in time") from None
        finally:
            self._echoes.pop((room.jid, envelope.key), None)

    async def leave_all(self, timeout: float = LEAVE_TIMEOUT) -> None:
        """Leave every room and stop rejoining them (shutdown)."""
        self._closed = True
        for room in self._rooms.values():
            if room.joining is not None:
                room.joining.cancel()
        present = [room for room in self._rooms.values() if room.joined]
        for room in present:
            room.leaving = True
            self.client.send_presence(pto=JID(f"{room.jid}/{room.nick}"), ptype="unavailable")
        if present:
            waits = asyncio.gather(*(room.left.wait() for room in present))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waits, timeout)
        for room in present:
            self._forget(room)

    # -- joining ------------------------------------------------------------------------

    def _on_session_start(self, _event: object) -> None:
        self._online = True
        for room in self._rooms.values():
            self._keep_joined(room)

    def _on_disconnected(self, _event: object) -> None:
        self._online = False  # the server took us out of every room
        for room in self._rooms.values():
            if room.joining is not None:
                room.joining.cancel()
            self._forget(room)

    def _keep_joined(self, room: _Room, wait: float = 0.0) -> None:
        if self._closed or not self._online:
            return
        if room.joining is None or room.joining.done():
            room.joining = asyncio.ensure_future(self._join_until_in(room, wait))

    async def _join_until_in(self, room: _Room, wait: float) -> None:
        delay = self._retry_after
        await asyncio.sleep(wait)
        while not (self._closed or room.joined or not self._online):
            if await self._join(room):
                return
            log.info("trying %s again in %g s", room.jid, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max(RETRY_MAX, self._retry_after))

    async def _join(self, room: _Room) -> bool:
        room.occupants.clear()
        room.leaving = False
        failure = await self._enter(room)
        if failure is not None:
            log.warning("cannot join %s (%s): %s", room.jid, room.department, failure)
            return False
        room.stanza_ids = await self._vouches_for_stanza_ids(room.jid)
        log.info("in %s (%s) as %s", room.jid, room.department, room.nick)
        return room.joined

    async def _enter(self, room: _Room) -> str | None:
        """Send the join and wait for the room's answer; why it failed, or None."""
        # Prosody answers a refused join with a bare presence error (no muc <x/>), which
        # join_muc_wait does not recognise: it would only time out. Watch for it here.
        refused: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        room.refused = refused
        # no history: old lines must never run as commands (they are ignored anyway)
        entering: asyncio.Future[Any] = asyncio.ensure_future(
            self.client.plugin["xep_0045"].join_muc_wait(
                JID(room.jid), self._nick, maxstanzas=0, timeout=self._join_timeout
            )
        )
        try:
            await asyncio.wait({entering, refused}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            room.refused = None
            refused.cancel()
            entering.cancel()
        if refused.done() and not refused.cancelled():
            return refused.result()
        try:
            entering.result()
        except PresenceError as error:
            return str(error.condition)
        except TimeoutError:
            return "no answer"
        except Exception as error:
            log.exception("joining %s failed", room.jid)
            return type(error).__name__
        return None

    async def _vouches_for_stanza_ids(self, room: str) -> bool:
        # XEP-0359: trust a stanza-id only when its issuer says it adds them (else an
        # occupant could have made it up).
        try:
            info = await self.client.plugin["xep_0030"].get_info(
                jid=JID(room), cached=False, timeout=self._join_timeout
            )
        except (IqError, IqTimeout):
            return False
        return STANZA_IDS in info["disco_info"]["features"]

    def _forget(self, room: _Room) -> None:
        room.joined = False
        room.occupants.clear()
        room.left.set()
        for (jid, key), echo in list(self._echoes.items()):
            if jid == room.jid and not echo.done():
                echo.set_exception(NotConnected(room.jid))
                del self._echoes[(jid, key)]

    # -- presences: who is in the room, and under which real JID -----------------------

    def _on_presence(self, presence: Presence) -> None:
        room = self._rooms.get(str(presence["from"].bare))
        if room is None or presence["type"] == "error":
            return
        nick = presence["from"].resource
        codes = presence["muc"]["status_codes"]
        if SELF_PRESENCE in codes:
            self._on_own_presence(room, presence, codes)
        elif presence["type"] == "unavailable":
            room.occupants.pop(nick, None)
        else:
            # the only trusted source of a real JID: the room's presence, never a message
            real = presence["muc"]["jid"]
            room.occupants[nick] = str(real) if real.bare else None

    def _on_presence_error(self, presence: Presence) -> None:
        room = self._rooms.get(str(presence["from"].bare))
        if room is not None and room.refused is not None and not room.refused.done():
            room.refused.set_result(str(presence["error"]["condition"]))

    def _on_own_presence(self, room: _Room, presence: Presence, codes: set[int]) -> None:
        if presence["type"] != "unavailable":
            room.nick = presence["from"].resource
            room.joined = True
            room.left.clear()
            return
        if NICK_CHANGED in codes:
            return  # the presence under the new nick follows
        was_leaving = room.leaving
        self._forget(room)
        if not was_leaving:
            log.warning("removed from %s (status %s)", room.jid, sorted(codes))
            self._keep_joined(room, wait=self._retry_after)

    # -- messages -----------------------------------------------------------------------

    def _on_message(self, msg: Message) -> None:
        # Synchronous on purpose: the occupant's real JID is looked up before any later
        # presence (a nick handed to someone else) is processed.
        room = self._rooms.get(str(msg["from"].bare))
        if room is None:
            return
        nick = msg["from"].resource
        if nick == room.nick:
            self._confirm(room, msg["id"])
            return  # our own line: never a command
        if not nick or msg.get_plugin("delay", check=True) is not None:
            return  # the room itself, or history
        if msg.xml.find(_SUBJECT) is not None or is_correction(msg):
            return  # a correction (XEP-0308) is never run: its command may have run already
        command = room_command(msg["body"], room.nick)
        if command is None or nick not in room.occupants:
            return
        real = room.occupants[nick]
        if real is None:
            self._tell_hidden(room)
            return
        key = room_message_key(msg, room.jid) if room.stanza_ids else None
        self._spawn(self._run(room, nick, real, command, key))

    async def _run(self, room: _Room, nick: str, real: str, command: str, key: str | None) -> None:
        bare = str(JID(real).bare)
        lock = self._locks.setdefault((room.jid, bare), asyncio.Lock())
        async with lock:  # one person's commands in one room run in the order sent
            try:
                if not await self._is_staff(bare):
                    log.info("no command from %s in %s: not staff", bare, room.jid)
                    return
                reply = await self._handler(real, command, key)
            except Exception:
                log.exception("a command from %s in %s failed", bare, room.jid)
                return
            if reply is not None:
                self._post(room, f"{nick}: {reply}")

    def _tell_hidden(self, room: _Room) -> None:
        if room.told_hidden:
            return
        room.told_hidden = True
        log.info("%s hides real JIDs: the bot takes no commands there", room.jid)
        self._post(room, self._notice)

    def _on_message_error(self, msg: Message) -> None:
        room = self._rooms.get(str(msg["from"].bare))
        echo = None if room is None else self._echoes.get((room.jid, msg["id"]))
        if echo is not None and not echo.done():
            condition = msg["error"]["condition"]
            echo.set_exception(TemporaryFailure(f"{msg['from'].bare} refused it: {condition}"))

    def _confirm(self, room: _Room, message_id: str) -> None:
        echo = self._echoes.get((room.jid, message_id))
        if echo is not None and not echo.done():
            echo.set_result(None)

    def _post(self, room: _Room, text: str, message_id: str | None = None) -> None:
        if not room.joined:
            log.warning("not in %s: dropped a line for it", room.jid)
            return
        msg = self.client.make_message(mto=JID(room.jid), mbody=text, mtype="groupchat")
        if message_id:
            msg["id"] = message_id
        msg.send()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # keep a reference until it ends
        task.add_done_callback(self._tasks.discard)


def _bare(jid: str) -> str:
    return str(JID(jid).bare)
