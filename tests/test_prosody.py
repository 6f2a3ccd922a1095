"""The real-Prosody harness: what tests, the demo and benchmarks rely on from the server."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from pathlib import Path

import pytest
from xmpp_client import Account, AccountFactory, ChatClient, ClientFactory, ClientFailed

from bot.prosody import (
    ProsodyFailed,
    ProsodyNotInstalled,
    ProsodyServer,
    ensure_prosody_installed,
    free_port,
)

pytestmark = pytest.mark.xmpp


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def port_is_open(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5):
            return True
    except OSError:
        return False


async def test_two_clients_exchange_messages_both_ways(xmpp_client: ClientFactory) -> None:
    alice, bob = await asyncio.gather(xmpp_client(), xmpp_client())
    alice.say(bob.boundjid.bare, "hello bob")
    received = await bob.expect(from_=alice.boundjid.bare)
    assert received.body == "hello bob"
    assert received.type == "chat"
    assert received.delay is None

    bob.say(alice.boundjid.bare, "hello alice")
    assert (await alice.expect(from_=bob.boundjid.bare)).body == "hello alice"


async def test_ask_returns_the_next_reply_and_keeps_other_messages(
    xmpp_client: ClientFactory,
) -> None:
    alice, bob, carol = await asyncio.gather(xmpp_client(), xmpp_client(), xmpp_client())
    carol.say(alice.boundjid.bare, "unrelated")
    await alice.expect(from_=carol.boundjid.bare)  # carol's line is in before the question
    carol.say(alice.boundjid.bare, "still unrelated")
    await carol.ping_server()  # the server has carol's line before bob answers

    async def echo_once() -> None:
        question = await bob.expect(from_=alice.boundjid.bare)
        bob.say(alice.boundjid.bare, f"echo: {question.body}")

    echo = asyncio.create_task(echo_once())
    assert await alice.ask(bob.boundjid.bare, "ping?") == "echo: ping?"
    await echo
    assert (await alice.expect(from_=carol.boundjid.bare)).body == "still unrelated"
    await alice.expect_none(within=0.2)


async def test_offline_message_is_delivered_once_with_a_delay(
    xmpp_account: AccountFactory, xmpp_client: ClientFactory
) -> None:
    alice = await xmpp_client()
    bob_account = xmpp_account("bob")
    alice.say(bob_account.jid, "while you were out")
    alice.say(bob_account.jid, "second note")
    await alice.ping_server()  # both messages are stored before bob logs in

    bob = await xmpp_client(bob_account, start=False)
    await bob.start()
    first = await bob.expect(from_=alice.boundjid.bare)
    second = await bob.expect(from_=alice.boundjid.bare)
    assert [first.body, second.body] == ["while you were out", "second note"]
    assert first.delay is not None and second.delay is not None
    await bob.expect_none(within=0.3)

    await bob.stop()
    bob_again = await xmpp_client(bob_account)
    await bob_again.expect_none(within=0.3)


async def test_offline_messages_wait_for_initial_presence(
    xmpp_account: AccountFactory, xmpp_client: ClientFactory
) -> None:
    alice = await xmpp_client()
    bob_account = xmpp_account("bob")
    alice.say(bob_account.jid, "after presence only")
    await alice.ping_server()

    bob = await xmpp_client(bob_account, start=False)
    await bob.start(presence=False)
    await bob.expect_none(within=0.3)
    bob.send_presence()
    assert (await bob.expect(from_=alice.boundjid.bare)).body == "after presence only"


async def test_server_answers_ping(xmpp_client: ClientFactory) -> None:
    client = await xmpp_client()
    rtt = await client.ping_server(timeout=5)
    assert 0 <= rtt < 5


async def test_room_occupants_see_each_others_real_jid(
    prosody: ProsodyServer, xmpp_client: ClientFactory
) -> None:
    alice, bob = await asyncio.gather(xmpp_client(), xmpp_client())
    room = f"room-{uuid.uuid4().hex[:8]}@{prosody.muc_domain}"

    await alice.join_room(room, "alice", timeout=5)
    already_there = await bob.join_room(room, "bob", timeout=5)

    assert [str(p["from"]) for p in already_there] == [f"{room}/alice"]
    assert await bob.occupant_real_jid(room, "alice") == alice.boundjid.bare
    assert await alice.occupant_real_jid(room, "bob") == bob.boundjid.bare

    bob.say_to_room(room, "hi room")
    line = await alice.expect_group(room)
    assert (line.body, str(line.sender)) == ("hi room", f"{room}/bob")
    # The group-chat message itself does not carry the real JID.
    assert "jid=" not in str(line.stanza)


async def test_server_stops_cleanly_and_restarts_keeping_accounts(tmp_path: Path) -> None:
    server = ProsodyServer(workdir=tmp_path)
    server.start()
    try:
        pid = server.pid
        account = Account(server.register("keeper", "secret"), "secret")
        client = ChatClient.for_account(account, server.address)
        await client.start()
        await client.stop()

        server.stop()
        assert server.pid is None and not server.running
        assert pid is not None and not process_exists(pid)
        assert not port_is_open(server.address)
        server.stop()  # idempotent

        server.start()
        assert server.pid not in (None, pid)
        again = ChatClient.for_account(account, server.address)
        await again.start()
        assert await again.ping_server() >= 0
        await again.stop()
    finally:
        server.stop()


async def test_a_wrong_password_fails_fast(
    prosody: ProsodyServer, xmpp_account: AccountFactory
) -> None:
    account = xmpp_account()
    client = ChatClient(account.jid, "not-the-password", prosody.address)
    started = time.monotonic()
    with pytest.raises(ClientFailed, match="could not log in"):
        await client.start(timeout=5)
    assert time.monotonic() - started < 2
    await client.stop()


async def test_a_closed_port_fails_fast(xmpp_account: AccountFactory) -> None:
    client = ChatClient.for_account(xmpp_account(), ("127.0.0.1", free_port()))
    with pytest.raises(ClientFailed, match="could not log in"):
        await client.start(timeout=5)
    await client.stop()


def test_a_port_in_use_fails_with_the_log(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = ProsodyServer(workdir=tmp_path, c2s_port=port)
        with pytest.raises(ProsodyFailed, match=f"port {port} is already in use"):
            server.start(timeout=5)
        assert not server.running


def test_register_rejects_bad_user_names(prosody: ProsodyServer) -> None:
    with pytest.raises(ProsodyFailed, match="invalid"):
        prosody.register("bad@user", "pw")
    with pytest.raises(ValueError, match="non-empty"):
        prosody.register(" ", "pw")


def test_missing_prosody_names_the_apt_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ProsodyNotInstalled, match="apt-get install -y prosody lua-dbi-sqlite3"):
        ensure_prosody_installed(install=False)
