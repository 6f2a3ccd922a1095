"""Staff presence for notifications: the bot's roster holds the staff, and only the staff,
and tells who of them is online right now."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import slixmpp
from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.jid import InvalidJID
from slixmpp.stanza import Presence

log = logging.getLogger(__name__)

IsStaff = Callable[[str], Awaitable[bool]]
ROSTER_TIMEOUT = 10.0
ASK_AGAIN = 24 * 3600.0  # seconds before someone who did not accept is asked again


def bare_jid(jid: str | JID) -> str | None:
    """The normalized bare JID (slixmpp applies nodeprep: `W1@Localhost` is `w1@localhost`),
    or None when `jid` is not a JID at all."""
    try:
        return str(JID(jid).bare) or None
    except InvalidJID:
        return None


class StaffPresence:
    """Keeps `client`'s roster equal to the staff list and tracks the staff's presence.

    Attach it before the client connects; it sets `client.auto_authorize = None` and
    `client.auto_subscribe = False` (slixmpp's defaults accept anyone's subscription
    request and subscribe back) and answers requests itself: staff are accepted and
    subscribed to, anyone else gets `unsubscribed`.

    Presence comes from the server: the owner of the client sends its initial presence
    (HelpdeskBot does in `session_start`), the server then probes every contact we are
    subscribed to. On each session start this class fetches the roster, which also makes
    the session "interested" (RFC 6121) so it gets roster pushes and `subscribed` notices.
    """

    def __init__(
        self, client: slixmpp.ClientXMPP, is_staff: IsStaff, timeout: float = ROSTER_TIMEOUT
    ) -> None:
        self._client = client
        self._is_staff = is_staff
        self._asked: dict[str, float] = {}  # bare JID -> when we last asked (monotonic)
        self._iq_timeout = max(1, math.ceil(timeout))  # slixmpp wants whole seconds
        client.auto_authorize = None
        client.auto_subscribe = False
        client.add_event_handler("session_start", self._on_session_start)
        client.add_event_handler("roster_subscription_request", self._on_subscription_request)
        client.add_event_handler("presence_error", self._on_presence_error)
        client.add_event_handler("disconnected", self._on_disconnected)

    def available(self, jid: str) -> bool:
        """True when `jid` (any resource of it) is a contact we are subscribed to and at
        least one of its resources is online.

        Any `show` counts as online, away/xa/dnd included: a notification waits on the
        server for a person who stepped away, and reading it later is what they expect.
        Only "unavailable" (or no resource at all, or a presence error) is offline.
        Presence from JIDs without a subscription (a stranger's directed presence) never
        counts."""
        bare = bare_jid(jid)
        roster = self._client.client_roster
        if bare is None or not roster.has_jid(bare):
            return False
        item = roster[bare]
        return bool(item["to"]) and bool(item.resources)

    async def sync(self, staff_jids: Iterable[str]) -> None:
        """Make the server roster match `staff_jids`: subscribe to staff we are not yet
        subscribed to (or waiting for), accept their pending requests, and remove
        everyone else. Raises IqError/IqTimeout when the server does not answer."""
        wanted = {bare for jid in staff_jids if (bare := bare_jid(jid)) is not None}
        current = await self._server_roster()
        roster = self._client.client_roster
        for jid in sorted(wanted):
            item = roster[jid]
            state = current.get(jid)
            unanswered = state is None or (
                state["subscription"] in ("none", "from") and not state["ask"]
            )
            if unanswered and self._may_ask(jid):
                item.subscribe()
            if item["pending_in"] and not item["from"]:
                item.authorize()
        for jid in sorted(current.keys() - wanted):
            removed = roster.update(jid, subscription="remove", timeout=self._iq_timeout)
            if removed is not None:  # None only for components
                await removed
            if roster.has_jid(jid):
                del roster[jid]
            log.info("removed %s from the roster: no longer staff", jid)

    def _may_ask(self, jid: str) -> bool:
        """Ask someone who declined again at most once a day, not at every sync."""
        now = time.monotonic()
        if now - self._asked.get(jid, -ASK_AGAIN) < ASK_AGAIN:
            return False
        self._asked[jid] = now
        return True

    async def _server_roster(self) -> dict[str, dict[str, Any]]:
        """The whole roster as the server has it (no roster versioning: the answer to a
        versioned request may be empty), also applied to slixmpp's local copy."""
        iq = self._client.Iq()
        iq["type"] = "get"
        iq.enable("roster")
        result = await iq.send(timeout=self._iq_timeout)  # type: ignore[no-untyped-call]
        self._client.event("roster_update", result)
        items: dict[str, dict[str, Any]] = {}
        for jid, item in result["roster"]["items"].items():
            bare = bare_jid(jid)
            if bare is not None:
                items[bare] = item
        return items

    async def _on_session_start(self, _event: object) -> None:
        try:
            await self._client.get_roster(timeout=self._iq_timeout)
        except (IqError, IqTimeout) as error:
            log.warning("could not fetch the roster: %s", error)

    async def _on_subscription_request(self, presence: Presence) -> None:
        jid = bare_jid(presence["from"])
        if jid is None:
            return
        try:
            staff = await self._is_staff(jid)
        except Exception:
            # Left pending: Prosody asks again at the next initial presence.
            log.exception("could not tell whether %s is staff", jid)
            return
        if not self._client.is_connected():
            return  # gone while we asked; Prosody asks again at the next initial presence
        item = self._client.client_roster[jid]
        if not staff:
            log.info("refused a presence subscription from %s", jid)
            item["pending_in"] = False
            self._client.send_presence(pto=jid, ptype="unsubscribed")
            return
        item.authorize()
        if not item["to"] and not item["pending_out"]:
            item.subscribe()

    def _on_presence_error(self, presence: Presence) -> None:
        # An error from a contact's server: it cannot tell us its presence any more.
        jid = bare_jid(presence["from"])
        roster = self._client.client_roster
        if jid is not None and roster.has_jid(jid):
            roster[jid].reset()

    def _on_disconnected(self, _reason: object) -> None:
        # slixmpp resets the roster's presence on disconnect too; do not depend on it.
        self._client.roster.reset()
