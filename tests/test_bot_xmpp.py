"""The bot on a real Prosody, driven by real slixmpp clients: a ticket's whole life,
visibility across roles, strangers, restarts with offline messages, reconnects."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from live_desk import BotTask, bot_config, helpdesk_core, read, seed, staff_accounts
from sqlalchemy import func, select
from xmpp_client import Account, AccountFactory, ChatClient, ClientFactory

from bot.config import Config
from bot.prosody import ProsodyServer
from storage.models import Outbox, OutboxStatus, Ticket

pytestmark = pytest.mark.xmpp

STAFF = [  # login, role, home department
    ("operator", "user", "ops"),
    ("head_it", "coordinator", "it"),
    ("w1", "user", "it"),
    ("w2", "user", "it"),
    ("hr1", "user", "hr"),
]
DEPARTMENTS = ["it", "ops", "hr"]


def make_config(bot: Account, server: ProsodyServer, folder: Path) -> Config:
    # no notifications section: the bot's default quiet hours
    return bot_config(server, bot, folder, notifications=None)


class Helpdesk_(BotTask):
    """A running bot with staff accounts on the real server."""

    def __init__(
        self,
        config: Config,
        accounts: dict[str, Account],
        client: Callable[[str], Awaitable[ChatClient]] | None = None,
    ) -> None:
        super().__init__(config, stop_within=10)
        self.accounts = accounts
        self.client = client

    async def count(self, model: type[Ticket] | type[Outbox]) -> int:
        [count] = await read(self.config, select(func.count()).select_from(model))
        return int(count or 0)


@pytest.fixture
async def helpdesk(
    prosody: ProsodyServer,
    xmpp_account: AccountFactory,
    xmpp_client: ClientFactory,
    tmp_path: Path,
) -> AsyncIterator[Helpdesk_]:
    accounts = staff_accounts(xmpp_account, STAFF)
    config = make_config(xmpp_account("bot"), prosody, tmp_path)
    await seed(config, STAFF, accounts, DEPARTMENTS)

    async def client(login: str) -> ChatClient:
        return await xmpp_client(accounts[login])

    desk = Helpdesk_(config, accounts, client)
    desk.start()
    yield desk
    await desk.stop()


async def test_a_tickets_whole_life_between_real_clients(helpdesk: Helpdesk_) -> None:
    operator, head, w1, w2 = [await helpdesk.client(n) for n in ("operator", "head_it", "w1", "w2")]
    bot = helpdesk.jid
    opened = await operator.ask(bot, "new printer on floor 3 jams @it !high", timeout=10)
    assert opened == "Ticket #1 opened for @it."
    for member in (head, w1, w2):  # every member of IT and its head, at once
        notice = await member.expect(from_=bot)
        assert notice.body == (
            "#1 !high printer on floor 3 jams — from @operator\nNew for @it [high]"
        )
    await operator.expect_none(0.3, from_=bot)  # never the one who did it

    assert await w1.ask(bot, "take #1") == "#1 is yours now."
    assert (await operator.expect(from_=bot)).body == "#1 !high @w1 took it"
    assert (await head.expect(from_=bot)).body == "#1 !high @w1 took it"
    assert await w2.ask(bot, "take #1") == "#1 is held by @w1; you may not take it over."

    assert await w1.ask(bot, "#1 replaced the roller") == "Comment added to #1."
    for told in (operator, head):
        assert (await told.expect(from_=bot)).body == "#1 !high @w1: replaced the roller"
    assert await w1.ask(bot, "close #1 done") == "#1 closed."
    for told in (operator, head):
        assert (await told.expect(from_=bot)).body == "#1 !high @w1 closed it: done"
    assert await operator.ask(bot, "reopen #1 still jams") == "#1 reopened."
    for told in (w1, head):
        assert (await told.expect(from_=bot)).body == "#1 !high @operator reopened it: still jams"
    await w2.expect_none(0.2, from_=bot)  # not the holder, creator or head: not told
    card = await head.ask(bot, "show #1")
    assert "Held by: @w1" in card and "@w1 closed it: done" in card


async def test_visibility_across_roles(helpdesk: Helpdesk_) -> None:
    operator, head, w1, w2, hr1 = [
        await helpdesk.client(n) for n in ("operator", "head_it", "w1", "w2", "hr1")
    ]
    bot = helpdesk.jid
    assert await operator.ask(bot, "new for w1 only @w1", timeout=10) == "Ticket #1 opened for @w1."
    assert (await w1.expect(from_=bot)).body.startswith("#1 for w1 only — from @operator\n")
    assert (await head.expect(from_=bot)).body.startswith("#1 for w1 only — from @operator\n")
    await w2.expect_none(0.3, from_=bot)  # a colleague is not told
    assert (await w1.ask(bot, "show #1")).startswith("#1 [normal, new]")
    assert (await head.ask(bot, "show #1")).startswith("#1 [normal, new]")
    hidden, missing = await w2.ask(bot, "show #1"), await w2.ask(bot, "show #2")
    assert (hidden, missing) == ("#1 not found", "#2 not found")
    assert await hr1.ask(bot, "#1 sneaky comment") == "#1 not found"


async def test_a_stranger_gets_one_refusal_and_learns_nothing(
    helpdesk: Helpdesk_, xmpp_client: ClientFactory
) -> None:
    stranger = await xmpp_client()
    refusal = await stranger.ask(helpdesk.jid, "list", timeout=10)
    assert refusal == "Sorry, this is a private service for the company's staff."
    stranger.say(helpdesk.jid, "show #1")
    stranger.say(helpdesk.jid, "help")
    await stranger.expect_none(1.0, from_=helpdesk.jid)


async def test_error_stanzas_and_group_chat_lines_are_not_commands(helpdesk: Helpdesk_) -> None:
    operator = await helpdesk.client("operator")
    assert (await operator.ask(helpdesk.jid, "help", timeout=10)).startswith("Commands you")
    operator.say(helpdesk.jid, "new from an error stanza", mtype="error")
    operator.say(helpdesk.jid, "new from a headline", mtype="headline")
    await operator.expect_none(0.5, from_=helpdesk.jid)
    assert await helpdesk.count(Ticket) == 0


async def test_a_command_sent_while_the_bot_was_down_is_answered_exactly_once(
    helpdesk: Helpdesk_,
) -> None:
    operator = await helpdesk.client("operator")
    assert (await operator.ask(helpdesk.jid, "help", timeout=10)).startswith("Commands")
    await helpdesk.stop()
    operator.say(helpdesk.jid, "new sent while the bot was away @it")
    await operator.expect_none(0.5, from_=helpdesk.jid)
    helpdesk.start()
    reply = await operator.expect(timeout=10, from_=helpdesk.jid)
    assert reply.body == "Ticket #1 opened for @it."
    await operator.expect_none(1.0, from_=helpdesk.jid)
    await helpdesk.stop()  # and once more: the server must not hand it over again
    helpdesk.start()
    assert (await operator.ask(helpdesk.jid, "list", timeout=10)).startswith("#1 [normal, new]")
    assert await helpdesk.count(Ticket) == 1


async def test_notifications_queued_while_down_are_delivered_after_restart(
    helpdesk: Helpdesk_,
) -> None:
    w1 = await helpdesk.client("w1")
    assert (await w1.ask(helpdesk.jid, "help", timeout=10)).startswith("Commands")
    await helpdesk.stop()
    async with helpdesk_core(helpdesk.config) as core:  # committed, never sent
        assert await core.handle(helpdesk.accounts["operator"].jid, "new queued @w1") == (
            "Ticket #1 opened for @w1."
        )
    helpdesk.start()
    notice = await w1.expect(timeout=10, from_=helpdesk.jid)
    assert notice.body == "#1 queued — from @operator\nNew for @w1 [normal]"
    await w1.expect_none(0.5, from_=helpdesk.jid)
    statuses = await read(helpdesk.config, select(Outbox.status))
    assert statuses and all(s == OutboxStatus.SENT.value for s in statuses)


async def test_the_bot_reconnects_when_the_server_comes_back(
    tmp_path: Path,
) -> None:
    server = ProsodyServer(tmp_path / "own-prosody")
    server.start()
    try:
        bot, user = (
            Account(server.register("bot", "pw-bot"), "pw-bot"),
            Account(server.register("operator", "pw-op"), "pw-op"),
        )
        config = make_config(bot, server, tmp_path)
        await seed(config, STAFF, {login: user for login, _, _ in STAFF[:1]} | {
            login: Account(f"{login}@localhost", "x") for login, _, _ in STAFF[1:]
        }, DEPARTMENTS)  # fmt: skip
        desk = Helpdesk_(config, {"operator": user})
        desk.start()
        client = ChatClient.for_account(user, server.address)
        await client.start()
        assert (await client.ask(bot.jid, "help", timeout=10)).startswith("Commands")
        await client.stop()
        server.stop()
        await asyncio.sleep(0.5)
        server.start()
        client = ChatClient.for_account(user, server.address)
        await client.start()
        assert (await client.ask(bot.jid, "list", timeout=20)) == "No open tickets."
        await client.stop()
        await desk.stop()
    finally:
        server.stop()


def test_helpdesk_run_stops_cleanly_on_sigterm(
    prosody: ProsodyServer, xmpp_account: AccountFactory, tmp_path: Path
) -> None:
    bot = xmpp_account("bot")
    config = tmp_path / "bot.yaml"
    config.write_text(
        f"xmpp:\n  jid: {bot.jid}\n  password: ${{BOT_PW}}\n  tls: none\n"
        f"  server: 127.0.0.1:{prosody.c2s_port}\n"
        f"database:\n  url: sqlite+aiosqlite:///{tmp_path / 'hd.db'}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "run"],
        env={**os.environ, "BOT_PW": bot.password},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    online = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "online as" in line:
                online.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert online.wait(15), "".join(lines)
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    finally:
        proc.kill()
    reader.join(5)
    out = "".join(lines)
    assert proc.returncode == 0, out
    assert "stopping" in out
    assert bot.password not in out and "Traceback" not in out
