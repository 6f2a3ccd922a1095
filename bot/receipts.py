"""Delivery receipts (XEP-0184) and chat markers (XEP-0333) on notifications: ask for them
on the way out, report them to the outbox when they come back."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Literal

import slixmpp
from slixmpp.plugins.xep_0184 import Request
from slixmpp.plugins.xep_0333 import Markable
from slixmpp.stanza import Message
from slixmpp.xmlstream import ET, register_stanza_plugin

log = logging.getLogger(__name__)

AckKind = Literal["received", "displayed"]
OnAck = Callable[[str, str, AckKind], Awaitable[None]]
ORIGIN_ID = "{urn:xmpp:sid:0}origin-id"
_ACK_TYPES = ("chat", "normal", "headline")  # never groupchat lines or error bounces


def request_acknowledgement(message: Message, message_id: str) -> Message:
    """Give `message` the id `message_id` (the outbox key) and ask the recipient's client
    for a receipt (`<request xmlns='urn:xmpp:receipts'/>`) and chat markers
    (`<markable xmlns='urn:xmpp:chat-markers:0'/>`); returns `message` for chaining.

    The same id goes into a XEP-0359 `<origin-id>`, which servers and bridges keep even
    when they rewrite the stanza's `id`. Markers are defined for type chat: send
    notifications with `mtype="chat"`."""
    register_stanza_plugin(Message, Request)
    register_stanza_plugin(Message, Markable)
    message["id"] = message_id
    message["request_receipt"] = True
    message.enable("markable")
    old = message.xml.find(ORIGIN_ID)
    if old is not None:
        message.xml.remove(old)
    message.xml.append(ET.Element(ORIGIN_ID, {"id": message_id}))
    return message


class Acknowledgements:
    """Calls `on_ack(sender_bare_jid, message_id, kind)` for every receipt or marker that
    arrives on `client`:

    - XEP-0184 `<received id=.../>` and XEP-0333 `<received id=.../>` -> "received"
    - XEP-0333 `<displayed id=.../>` and `<acknowledged id=.../>` -> "displayed"

    The sender is whoever sent the receipt or marker, not necessarily the recipient of
    that message: the caller must check it is (anyone can send a marker for any id).

    Registers slixmpp's xep_0184 and xep_0333 plugins (and xep_0030, their dependency).
    xep_0184 keeps `auto_ack=True`: the client answers receipt requests on chat, normal
    and headline messages with a bodyless `<received/>`, which is harmless (the plugin
    never acks a receipt or an error, so no loop) and what people's clients expect.
    `auto_request` is forced off: only notifications, through `request_acknowledgement`,
    ask for receipts, never command replies. Receipt- and marker-only messages carry no
    body, and HelpdeskBot never treats a bodyless message as a command."""

    def __init__(self, client: slixmpp.ClientXMPP, on_ack: OnAck) -> None:
        self._client = client
        self._on_ack = on_ack
        client.register_plugin("xep_0184")
        client.register_plugin("xep_0333")
        receipts = client.plugin["xep_0184"]
        receipts.auto_request = False  # set here: a plugin registered earlier keeps its config
        receipts.auto_ack = True
        client.add_event_handler("receipt_received", self._on_receipt)
        client.add_event_handler("marker_received", self._on_marker_received)
        client.add_event_handler("marker_displayed", self._on_marker_displayed)
        client.add_event_handler("marker_acknowledged", self._on_marker_acknowledged)

    async def _on_receipt(self, msg: Message) -> None:
        await self._report(msg, str(msg["receipt"]), "received")

    async def _on_marker_received(self, msg: Message) -> None:
        await self._report(msg, str(msg["received"]["id"]), "received")

    async def _on_marker_displayed(self, msg: Message) -> None:
        await self._report(msg, str(msg["displayed"]["id"]), "displayed")

    async def _on_marker_acknowledged(self, msg: Message) -> None:
        await self._report(msg, str(msg["acknowledged"]["id"]), "displayed")

    async def _report(self, msg: Message, message_id: str, kind: AckKind) -> None:
        if msg["type"] not in _ACK_TYPES or not message_id:
            return
        sender = str(msg["from"].bare)
        if not sender:
            return
        try:
            await self._on_ack(sender, message_id, kind)
        except Exception:
            log.exception("on_ack failed for %s %s from %s", kind, message_id, sender)
