"""A kill -9 of `helpdesk run` in the middle of a burst of notifications loses and doubles
nothing: chat through a real Prosody (the bot asks its message archive about what was in
flight), SMS through a local provider (sent again only where the provider drops repeats)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sms_provider import SmsProvider
from sqlalchemy import func, select
from xmpp_client import Account, AccountFactory, ChatClient, ClientFactory

from bot.prosody import ProsodyServer
from commands.core import Helpdesk
from commands.notify import Rules
from storage import migrate
from storage.db import make_engine, make_sessions
from storage.models import Outbox, Staff

pytestmark = pytest.mark.xmpp

TICKETS = 400
SMS_TICKETS = 150
WORKERS = ("w1", "w2", "w3")
TOKEN = "sms-test-token"


def write_config(path: Path, bot: Account, prosody: ProsodyServer, db: Path, sms: str) -> None:
    path.write_text(
        f"xmpp:\n  jid: {bot.jid}\n  password: {bot.password}\n  tls: none\n"
        f"  server: 127.0.0.1:{prosody.c2s_port}\n"
        f"database:\n  url: sqlite+aiosqlite:///{db}\n"
        f"language: en\n{sms}"
    )


async def seed(
    db: Path, jids: dict[str, str], *, phones: bool = False, tickets: int = TICKETS
) -> int:
    """Staff and a burst of tickets for the department: 3 notifications each."""
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    await migrate.upgrade(engine)
    core = Helpdesk(make_sessions(engine), language="en")
    core.rules = Rules(sms=phones, quiet_hours=None)  # as `helpdesk run` with an SMS provider
    await core.run_admin("dept", ["add", "it", "IT"])
    await core.run_admin("dept", ["add", "ops", "Operators"])
    await core.run_admin("staff", ["add", "operator", "operator@localhost", "user", "ops"])
    for n, login in enumerate(WORKERS):
        await core.run_admin("staff", ["add", login, jids[login], "user", "it"])
        if phones:
            await core.run_admin("staff", ["set", login, "phone", f"+7916123456{n}"])
            await core.run_admin("staff", ["set", login, "sms", "on"])
    for n in range(1, tickets + 1):
        await core.handle("operator@localhost", f"new burst item {n} @it")
    async with make_sessions(engine)() as session:
        count = await session.scalar(select(func.count()).select_from(Outbox))
    await engine.dispose()
    return count or 0


async def statuses(db: Path, channel: str) -> Counter[str]:
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(Outbox.status, func.count())
                .where(Outbox.channel == channel)
                .group_by(Outbox.status)
            )
            return Counter({status: count for status, count in rows})
    finally:
        await engine.dispose()


def start_bot(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ),
    )


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.001)


async def until_all(db: Path, channel: str, total: int, timeout: float) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        got = await statuses(db, channel)
        if got["sent"] + got["dead"] == total:
            return got
        assert time.monotonic() < deadline, f"{channel} outbox never settled: {got}"
        await asyncio.sleep(0.1)


async def test_a_kill_during_a_chat_burst_loses_and_doubles_nothing(
    prosody: ProsodyServer,
    xmpp_account: AccountFactory,
    xmpp_client: ClientFactory,
    tmp_path: Path,
) -> None:
    bot = xmpp_account("bot")
    accounts = {login: xmpp_account(login) for login in WORKERS}
    db = tmp_path / "hd.db"
    total = await seed(db, {login: a.jid for login, a in accounts.items()})
    assert total == TICKETS * len(WORKERS)
    clients: dict[str, ChatClient] = {
        login: await xmpp_client(account) for login, account in accounts.items()
    }
    config = tmp_path / "bot.yaml"
    write_config(config, bot, prosody, db, "")

    def received() -> int:
        return sum(c.messages.qsize() for c in clients.values())

    proc = start_bot(config)
    try:
        await wait_for(lambda: received() > 0, 30, "the first notification")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    at_kill = await statuses(tmp_path / "hd.db", "xmpp")
    assert at_kill["sent"] < total, f"the kill came after the burst: {at_kill}"
    proc = start_bot(config)
    try:
        settled = await until_all(db, "xmpp", total, 60)
        await wait_for(lambda: received() >= total, 30, "every notification")
        await asyncio.sleep(1.0)  # anything doubled would arrive by now
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert settled == Counter({"sent": total})
    for login, client in clients.items():
        bodies = Counter(m.body for m in client.drain())
        numbers = sorted(int(b.split()[0].lstrip("#")) for b in bodies)  # "#N text — ..."
        assert numbers == list(range(1, TICKETS + 1)), login  # none lost
        assert max(bodies.values()) == 1, bodies.most_common(3)  # none doubled
    print(f"killed with {dict(at_kill)} of {total}")


@pytest.mark.parametrize("provider", ["generic", "smsru"])
async def test_a_kill_during_an_sms_burst_never_sends_a_message_twice(
    provider: str,
    prosody: ProsodyServer,
    xmpp_account: AccountFactory,
    tmp_path: Path,
) -> None:
    """Generic providers drop a repeated Idempotency-Key, so what was in flight is sent
    again; SMS.ru cannot be asked, so what was in flight becomes a dead letter instead of
    a possible double. Either way no phone gets a message twice, and nothing is silently
    lost: every message is delivered or shown to admins as undelivered."""
    bot = xmpp_account("bot")
    db = tmp_path / "hd.db"
    jids = {login: f"{login}@nowhere.localhost" for login in WORKERS}
    async with SmsProvider(token=TOKEN, latency=0.01) as sms:
        await seed(db, jids, phones=True, tickets=SMS_TICKETS)
        async with make_sessions(make_engine(f"sqlite+aiosqlite:///{db}"))() as session:
            total = await session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.channel == "sms")
            )
            assert total == SMS_TICKETS * len(WORKERS)
            assert await session.scalar(select(func.count()).select_from(Staff)) == 4
        path = "/send" if provider == "generic" else "/sms/send"
        config = tmp_path / "bot.yaml"
        write_config(
            config,
            bot,
            prosody,
            db,
            f"sms:\n  provider: {provider}\n  url: {sms.url}{path}\n  token: {TOKEN}\n"
            "  sender: HELPDESK\n"
            "notifications:\n  quiet_hours: null\n",
        )
        proc = start_bot(config)
        try:
            # killed while the 20th is accepted but not yet answered
            await wait_for(lambda: len(sms.messages) >= 20, 30, "the 20th SMS")
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            proc.kill()
        at_kill = await statuses(db, "sms")
        assert at_kill["sending"] == 1, f"the kill did not interrupt a call: {at_kill}"
        proc = start_bot(config)
        try:
            settled = await until_all(db, "sms", total, 60)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        texts = Counter((m.to, m.text) for m in sms.messages)
        assert max(texts.values()) == 1, texts.most_common(3)  # no phone got one twice
        assert len(sms.messages) == total  # every one reached the provider
        if provider == "generic":
            assert settled == Counter({"sent": total})
            assert sms.repeats == 1  # the interrupted one, sent again and dropped
        else:  # the interrupted one was accepted, but nobody can know: shown to admins
            assert settled == Counter({"sent": total - 1, "dead": 1})
        print(f"{provider}: killed with {dict(at_kill)}; repeats dropped: {sms.repeats}")
