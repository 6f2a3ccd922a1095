"""The XMPP transport: turns chat messages into core requests and replies into stanzas."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import secrets
import socket
import ssl
from collections.abc import Awaitable, Callable
from datetime import timedelta

import slixmpp
from slixmpp import JID, InvalidJID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.stanza import Message
from slixmpp.xmlstream.xmlstream import NotConnectedError

from bot.archive import sent_message_ids
from bot.channels import Envelope, NotConnected, PermanentFailure
from bot.config import XmppConfig
from bot.receipts import request_acknowledgement
from bot.replies import is_correction, oob_url, own_text, read_stanza, replied_ticket, ticket_thread
from commands.i18n import t
from storage import queries
from storage.db import Sessions
from storage.models import Outbox

log = logging.getLogger(__name__)

Handler = Callable[[str, str, str | None], Awaitable[str | None]]
# (the message, the sender's bare JID) -> the reply; bot/files.py
FileHandler = Callable[[Message, str], Awaitable[str | None]]
RECONNECT_MAX = 60.0
MUC_USER = "{http://jabber.org/protocol/muc#user}x"
KEEPALIVE_INTERVAL = 60
SENDERS_KEPT = 10_000  # previous bodies remembered; strangers must not grow memory forever


def message_key(msg: Message, own_jid: str) -> str | None:
    """A key that is the same each time the server delivers this message: the server's
    XEP-0359 stanza-id when it adds one for us, else sender + id (+ delay stamp)."""
    sid = msg.get_plugin("stanza_id", check=True)
    if sid is not None and sid["by"] and str(sid["by"]) == own_jid and sid["id"]:
        return f"sid:{sid['id']}"
    if not msg["id"]:
        return None
    delay = msg.get_plugin("delay", check=True)
    stamp = delay["stamp"].isoformat() if delay is not None and delay["stamp"] else ""
    raw = f"{msg['from'].bare}|{msg['id']}|{stamp}"
    return "mid:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def no_delay(client: slixmpp.ClientXMPP) -> None:
    """Turn Nagle's algorithm off: the bot writes many small stanzas (a reply, then a
    notification, then the ping that confirms them), and with Nagle on a small write
    waits for the server's delayed ACK, up to 40 ms on Linux."""
    sock = client.transport.get_extra_info("socket") if client.transport else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def configure_tls(client: slixmpp.ClientXMPP, config: XmppConfig) -> None:
    """`tls: starttls | direct | none` and `verify_tls`, for the bot and `helpdesk chat`."""
    client.enable_direct_tls = config.tls == "direct"
    client.enable_starttls = config.tls == "starttls"
    client.enable_plaintext = config.tls == "none"
    if config.tls == "none":
        client.plugin["feature_mechanisms"].unencrypted_scram = True
    if not config.verify_tls:
        client.ssl_context.check_hostname = False
        client.ssl_context.verify_mode = ssl.CERT_NONE


async def disconnect(client: slixmpp.ClientXMPP, timeout: float = 5.0) -> None:
    """Close the stream (abort after `timeout`) and end slixmpp's outgoing-stanza task,
    which it leaves running after a disconnect ("Task was destroyed but it is pending")."""
    if client.transport is None:
        client.cancel_connection_attempt()
    else:
        try:
            await asyncio.wait_for(client.disconnect(wait=timeout / 2), timeout)
        except TimeoutError:
            client.abort()
    sending: asyncio.Future[None] | None = getattr(client, "_run_out_filters", None)
    if sending is not None and not sending.done():
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending


class HelpdeskBot(slixmpp.ClientXMPP):
    """The always-on bot account: answers one-to-one chat, delivers notifications,
    keeps itself connected.

    `sessions` (the database) lets a XEP-0461 reply to a notification land on its ticket
    and a XEP-0308 correction get its note in the sender's language; without it both are
    read as plain messages. `language` is the default for staff who have none set."""

    def __init__(
        self,
        config: XmppConfig,
        handler: Handler,
        *,
        sessions: Sessions | None = None,
        language: str = "ru",
    ) -> None:
        super().__init__(config.jid, config.password.reveal())
        self.config = config
        self.handler = handler
        self.sessions = sessions
        self.language = language
        # set by the process when files are attached (bot/files.py): runs, instead of the
        # command path, for a message that carries a XEP-0066 OOB URL
        self.file_handler: FileHandler | None = None
        # each sender's (bare JID) last body that was not a file: a file may name its
        # ticket with `#N` in the message before it
        self.previous_body: dict[str, str] = {}
        self.online = asyncio.Event()
        self._stopping = False
        self._senders: dict[str, asyncio.Lock] = {}
        self._backoff = 1.0
        self.rooms = {room.lower() for room in config.rooms.values()}
        configure_tls(self, config)
        # xep_0461 advertises that replies are understood (bot/replies.py reads them)
        for plugin in ("xep_0030", "xep_0203", "xep_0359", "xep_0092", "xep_0461"):
            self.register_plugin(plugin)
        self.register_plugin(
            "xep_0199", {"keepalive": True, "interval": KEEPALIVE_INTERVAL, "timeout": 30}
        )
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("message", self._on_message)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("failed_auth", self._on_failed_auth)
        self.add_event_handler("connection_failed", self._on_connection_failed)

    def start(self) -> None:
        """Connect (and keep reconnecting) until `stop`."""
        self._stopping = False
        address = self.config.host_port()
        if address is None:
            self.connect()
        else:
            self.connect(*address)

    async def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        self.online.clear()
        self.cancel_connection_attempt()
        await disconnect(self, timeout)

    async def _on_session_start(self, _event: object) -> None:
        no_delay(self)
        # initial presence makes the server hand over messages stored while we were away
        self.send_presence()
        self._backoff = 1.0
        self.online.set()
        log.info("online as %s", self.boundjid.bare)

    def _on_failed_auth(self, _event: object) -> None:
        log.error("the server refused the bot's login for %s", self.boundjid.bare)

    def _on_connection_failed(self, error: object) -> None:
        log.warning("cannot reach the XMPP server: %s; trying again", error)

    def _on_disconnected(self, reason: object) -> None:
        self.online.clear()
        if self._stopping:
            return
        delay = self._backoff * random.uniform(0.8, 1.2)
        self._backoff = min(RECONNECT_MAX, self._backoff * 2)
        log.warning("disconnected (%s); reconnecting in %.1f s", reason, delay)
        asyncio.get_running_loop().call_later(delay, self._reconnect)

    def _reconnect(self) -> None:
        if not self._stopping and not self.online.is_set():
            self.start()

    async def _on_message(self, msg: Message) -> None:
        if msg["type"] not in ("chat", "normal") or not msg["body"]:
            return  # errors, group chat, headlines and chat states are not commands
        sender = msg["from"].bare.lower()
        if sender == self.boundjid.bare.lower():
            return  # our own echo (carbons, a message to self)
        if sender in self.rooms or msg.xml.find(MUC_USER) is not None:
            return  # a private line from a room occupant or an invitation: not a person
        lock = self._senders.setdefault(sender, asyncio.Lock())
        async with lock:  # one person's commands run in the order they were sent
            reply = await self._answer(msg, sender)
        if reply is not None:
            answer = self.make_message(mto=msg["from"], mbody=reply, mtype=msg["type"])
            if msg["thread"]:
                answer["thread"] = msg["thread"]
            answer.send()

    async def _answer(self, msg: Message, sender: str) -> str | None:
        """The reply to one message: a correction gets a note and is never run (it may
        have run already), a file goes to the file handler, and anything else to the
        command core, as `#N <text>` when it answers a ticket's notification."""
        try:
            if is_correction(msg):
                return await self._correction_note(sender)
            if self.file_handler is not None and oob_url(msg) is not None:
                return await self.file_handler(msg, sender)
            line = read_stanza(msg)
            replied = await replied_ticket(self.sessions, sender, line, bot_jid=self.boundjid.bare)
        except Exception:
            ref = secrets.token_hex(3)
            log.exception("message from %s failed (ref %s)", sender, ref)
            return t(self.language, "internal_error", ref=ref)
        text = replied.command if replied is not None else own_text(line)
        reply = await self.handler(str(msg["from"]), text, message_key(msg, self.boundjid.bare))
        self._remember(sender, line.body)
        return reply

    async def _correction_note(self, sender: str) -> str | None:
        """One line for a staff member; a stranger hears nothing more than before."""
        if self.sessions is None:
            return None
        async with self.sessions() as session:
            actor = await queries.actor_for_jid(session, sender, self.language)
        return None if actor is None else t(actor.language, "correction_ignored")

    def _remember(self, sender: str, body: str) -> None:
        if len(self.previous_body) >= SENDERS_KEPT and sender not in self.previous_body:
            self.previous_body.clear()
        self.previous_body[sender] = body


class ChatChannel:
    """The outbox's chat channel (bot/channels.py) on the bot's connection.

    Sends are queued on the stream; `flush()` returns once the server has read them.
    Each notification carries its outbox key as its id (and origin-id) and asks for a
    receipt and chat markers, so an assignment's acknowledgement can be followed; one
    about a ticket goes in that ticket's thread (`helpdesk-ticket-N`), so a reply to it,
    or in it, lands on the ticket (bot/replies.py).
    `verify()` asks the bot's own message archive whether an interrupted one arrived."""

    ARCHIVE_SLACK = timedelta(minutes=2)  # the server's clock may lag the bot's

    def __init__(self, bot: HelpdeskBot) -> None:
        self.bot = bot
        self._archived: dict[str, set[str] | None] = {}  # by address, for one settling

    async def send(self, envelope: Envelope) -> None:
        """Queue one notification; NotConnected when offline (it stays in the outbox)."""
        if not self.bot.online.is_set():
            raise NotConnected(envelope.address)
        try:
            to = JID(envelope.address)
        except InvalidJID as exc:
            raise PermanentFailure(f"not a JID: {envelope.address!r}") from exc
        message = self.bot.make_message(mto=to, mbody=envelope.text, mtype="chat")
        if envelope.ticket is not None:  # a reply in it lands on the ticket (bot/replies.py)
            message["thread"] = ticket_thread(envelope.ticket)
        request_acknowledgement(message, envelope.key).send()

    async def flush(self, timeout: float = 10.0) -> None:
        """Return once the server has every stanza sent before: it answers a ping only
        after reading them (one stream, in order). NotConnected when it does not answer."""
        self._archived.clear()
        if not self.bot.online.is_set():
            raise NotConnected(self.bot.boundjid.domain)
        try:
            server = JID(self.bot.boundjid.domain)
            await self.bot.plugin["xep_0199"].ping(jid=server, timeout=timeout)
        except (IqError, IqTimeout) as exc:
            raise NotConnected(self.bot.boundjid.domain) from exc
        # A whitespace keepalive carries the TCP acknowledgement of the pong at once.
        # Otherwise the server, with Nagle on (Prosody's default), holds its next small
        # write to us (the next command) until our delayed ACK: up to 40 ms.
        with contextlib.suppress(NotConnectedError, OSError):
            self.bot.send_raw(" ")

    async def verify(self, message: Outbox) -> bool | None:
        """Whether the server got a notification whose send was interrupted: True or
        False from the archive, None when there is none (it is then sent again)."""
        if not self.bot.online.is_set():
            raise NotConnected(message.address)
        if message.address not in self._archived:
            since = (message.sending_at or message.created_at) - self.ARCHIVE_SLACK
            self._archived[message.address] = await sent_message_ids(
                self.bot, message.address, since
            )
        ids = self._archived[message.address]
        return None if ids is None else message.key in ids
