"""Asks the bot's own message archive (XEP-0313) which notifications the server already
took, so the outbox neither loses nor doubles one after a crash."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime

import slixmpp
from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.jid import InvalidJID
from slixmpp.stanza import Message

log = logging.getLogger(__name__)

PAGE_SIZE = 50  # Prosody's default max_archive_query_results
MAX_PAGES = 200
ORIGIN_ID = "{urn:xmpp:sid:0}origin-id"


async def sent_message_ids(
    client: slixmpp.ClientXMPP, with_jid: str, since: datetime, timeout: float = 10
) -> set[str] | None:
    """The ids (the stanza `id` and the XEP-0359 origin-id, when present) of the messages
    with a body that `client`'s account sent to `with_jid` since `since`, as the
    account's server-side archive (MAM) has them; None when the server has no archive,
    refuses the query or does not answer within `timeout` seconds (fall back then).

    `since` is rounded down to the whole second (Prosody stamps archived messages with
    whole seconds); a naive datetime is taken as UTC. Pass an earlier time if the
    server's clock may lag the bot's.

    Call it only after the session's initial presence: Prosody's mod_mam holds back
    offline messages from a session that queried the archive before its initial
    presence (they stay stored for a later session). Registers slixmpp's xep_0313 plugin
    (and its dependencies xep_0004/0030/0050/0059/0297) on first use."""
    try:
        with_bare = JID(with_jid).bare
    except InvalidJID:
        return None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    since = since.replace(microsecond=0)
    try:
        return await asyncio.wait_for(_collect(client, JID(with_bare), since, timeout), timeout)
    except (IqError, IqTimeout, TimeoutError) as error:
        log.warning("could not query the archive for %s: %s", with_bare, _describe(error))
        return None


async def _collect(
    client: slixmpp.ClientXMPP, with_jid: JID, since: datetime, timeout: float
) -> set[str]:
    client.register_plugin("xep_0313")
    mam = client.plugin["xep_0313"]
    own = str(client.boundjid.bare)
    iq_timeout = max(1, math.ceil(timeout))  # whole seconds; wait_for bounds the total
    ids: set[str] = set()
    after: str | None = None
    for _ in range(MAX_PAGES):
        rsm: dict[str, object] = {"max": PAGE_SIZE}
        if after:
            rsm["after"] = after
        page = await mam.retrieve(with_jid=with_jid, start=since, timeout=iq_timeout, rsm=rsm)
        results = page["mam"]["results"]
        for result in results:
            ids |= _ids_if_sent(result["mam_result"]["forwarded"]["stanza"], own)
        after = str(page["mam_fin"]["rsm"]["last"] or "")
        if page["mam_fin"]["complete"] in ("true", "1") or len(results) < PAGE_SIZE or not after:
            return ids
    log.warning("the archive for %s has more than %d pages; stopped", with_jid, MAX_PAGES)
    return ids


def _ids_if_sent(msg: Message, own: str) -> set[str]:
    if str(msg["from"].bare) != own or msg["type"] == "error" or not msg["body"]:
        return set()  # received, a bounce, or a receipt/marker the client sent
    ids = {str(msg["id"])} if msg["id"] else set()
    origin = msg.xml.find(ORIGIN_ID)
    origin_id = None if origin is None else origin.get("id")
    if origin_id:
        ids.add(origin_id)
    return ids


def _describe(error: BaseException) -> str:
    if isinstance(error, IqError):
        return f"{error.condition} {error.text}".strip()
    return type(error).__name__
