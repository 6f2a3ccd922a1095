"""Lean slixmpp clients for the benchmarks: a bare echo bot and a round-trip timer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import slixmpp
from slixmpp import JID
from slixmpp.stanza import Message

CHAT_TYPES = ("chat", "normal")
# arrival time (time.perf_counter), sender's bare JID, body
Listener = Callable[[float, str, str], None]


@dataclass(frozen=True)
class Reply:
    """A reply and when, by time.perf_counter, its question left and it arrived."""

    sent: float
    arrived: float
    body: str

    @property
    def seconds(self) -> float:
        return self.arrived - self.sent


class BenchFailed(RuntimeError):
    """A client could not log in, or a reply did not come or was not the expected one."""


class LoopbackClient(slixmpp.ClientXMPP):
    """A plaintext client for a loopback Prosody (bot/prosody.py runs it without TLS).

    No plugins: the message path is slixmpp's own, nothing added, so that the echo
    baseline is as bare as a slixmpp bot can be.
    """

    def __init__(self, jid: str, password: str, address: tuple[str, int]) -> None:
        super().__init__(jid, password)
        self.address = address
        self.enable_direct_tls = False
        self.enable_starttls = False
        self.enable_plaintext = True
        self.plugin["feature_mechanisms"].unencrypted_scram = True
        self._started: asyncio.Future[None] | None = None
        self.add_event_handler("session_start", self._on_session_start)
        for failure in ("failed_all_auth", "connection_failed", "disconnected"):
            self.add_event_handler(failure, self._on_failure)

    async def start(self, timeout: float = 10) -> None:
        """Connect, wait for the session, send initial presence."""
        started = self._started = asyncio.get_running_loop().create_future()
        self.connect(*self.address)
        try:
            await asyncio.wait_for(asyncio.shield(started), timeout)
        except TimeoutError:
            self.abort()
            raise BenchFailed(f"{self.boundjid.bare}: no session within {timeout}s") from None
        finally:
            self._started = None  # a failure from now on is no longer a failed start
            if not started.done():
                started.cancel()  # we were cancelled (Ctrl-C) while waiting
            elif not started.cancelled():
                started.exception()  # retrieved: no "exception was never retrieved"
        self.send_presence()

    def _on_session_start(self, _event: Any) -> None:
        if self._started is not None and not self._started.done():
            self._started.set_result(None)

    def _on_failure(self, event: Any) -> None:
        if self._started is not None and not self._started.done():
            reason = f"{self.boundjid.bare}: could not log in to {self.address}: {event}"
            self._started.set_exception(BenchFailed(reason))

    async def stop(self, timeout: float = 5) -> None:
        """Close the stream; never raises for a connection that is already gone."""
        if self.transport is None:
            self.cancel_connection_attempt()
        else:
            try:
                await asyncio.wait_for(self.disconnect(wait=timeout / 2), timeout)
            except TimeoutError:
                self.abort()
        # slixmpp leaves its outgoing-stanza task running after a disconnect
        sending: asyncio.Future[None] | None = getattr(self, "_run_out_filters", None)
        if sending is not None and not sending.done():
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending


class EchoBot(LoopbackClient):
    """Answers every one-to-one message with its body: the baseline of a round trip."""

    def __init__(self, jid: str, password: str, address: tuple[str, int]) -> None:
        super().__init__(jid, password, address)
        self.add_event_handler("message", self._echo)

    def _echo(self, msg: Message) -> None:
        if msg["type"] in CHAT_TYPES and msg["body"]:
            self.send_message(mto=msg["from"], mbody=msg["body"], mtype=msg["type"])


class TimingClient(LoopbackClient):
    """Sends one message at a time and times the reply from the stanza's arrival.

    The arrival time is taken in a synchronous message handler, before any queue or
    task switch, so the figure is the network path plus the other side's work.
    Messages from anyone else go to `listener` (notifications) or into `stray`.
    """

    def __init__(
        self, jid: str, password: str, address: tuple[str, int], listener: Listener | None = None
    ) -> None:
        super().__init__(jid, password, address)
        self.listener = listener
        self.stray: list[tuple[str, str]] = []
        self._waiting: tuple[str, asyncio.Future[tuple[float, str]]] | None = None
        self.add_event_handler("message", self._on_message)

    def _on_message(self, msg: Message) -> None:
        if msg["type"] not in CHAT_TYPES or not msg["body"]:
            return
        arrived = time.perf_counter()
        sender, body = str(msg["from"].bare), str(msg["body"])
        waiting = self._waiting
        if waiting is not None and waiting[0] == sender and not waiting[1].done():
            waiting[1].set_result((arrived, body))
        elif self.listener is not None:
            self.listener(arrived, sender, body)
        else:
            self.stray.append((sender, body))

    async def roundtrip(self, to: str, body: str, timeout: float = 10) -> Reply:
        """Send `body` to `to` and wait for the next message from that bare JID."""
        bare = str(JID(to).bare)
        future: asyncio.Future[tuple[float, str]] = asyncio.get_running_loop().create_future()
        self._waiting = (bare, future)
        sent = time.perf_counter()
        self.send_message(mto=JID(to), mbody=body, mtype="chat")
        try:
            arrived, reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise BenchFailed(f"no reply from {bare} to {body!r} within {timeout}s") from None
        finally:
            self._waiting = None
        return Reply(sent, arrived, reply)
