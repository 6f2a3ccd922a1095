"""The XMPP transport: turns chat messages into core requests and replies into stanzas."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable

import slixmpp
from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.stanza import Message

from bot.channels import Envelope, NotConnected
from bot.config import XmppConfig

log = logging.getLogger(__name__)

Handler = Callable[[str, str, str | None], Awaitable[str | None]]
RECONNECT_MAX = 60.0
KEEPALIVE_INTERVAL = 60


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
    keeps itself connected."""

    def __init__(self, config: XmppConfig, handler: Handler) -> None:
        super().__init__(config.jid, config.password.reveal())
        self.config = config
        self.handler = handler
        self.online = asyncio.Event()
        self._stopping = False
        self._senders: dict[str, asyncio.Lock] = {}
        self._backoff = 1.0
        configure_tls(self, config)
        for plugin in ("xep_0030", "xep_0203", "xep_0359", "xep_0092"):
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
        lock = self._senders.setdefault(sender, asyncio.Lock())
        async with lock:  # one person's commands run in the order they were sent
            reply = await self.handler(
                str(msg["from"]), msg["body"], message_key(msg, self.boundjid.bare)
            )
        if reply is not None:
            answer = self.make_message(mto=msg["from"], mbody=reply, mtype=msg["type"])
            if msg["thread"]:
                answer["thread"] = msg["thread"]
            answer.send()


class ChatChannel:
    """The outbox's chat channel (bot/channels.py) on the bot's connection."""

    def __init__(self, bot: HelpdeskBot) -> None:
        self.bot = bot

    async def send(self, envelope: Envelope) -> None:
        """Queue one notification; NotConnected when offline (it stays in the outbox).
        Its id is the outbox key: the same message always has the same id."""
        if not self.bot.online.is_set():
            raise NotConnected(envelope.address)
        to = JID(envelope.address)
        message = self.bot.make_message(mto=to, mbody=envelope.text, mtype="chat")
        message["id"] = envelope.key
        message.send()

    async def flush(self, timeout: float = 10.0) -> None:
        """Return once the server has every stanza sent before: it answers a ping only
        after reading them (one stream, in order). NotConnected when it does not answer."""
        if not self.bot.online.is_set():
            raise NotConnected(self.bot.boundjid.domain)
        try:
            server = JID(self.bot.boundjid.domain)
            await self.bot.plugin["xep_0199"].ping(jid=server, timeout=timeout)
        except (IqError, IqTimeout) as exc:
            raise NotConnected(self.bot.boundjid.domain) from exc
