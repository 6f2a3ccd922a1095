"""The web page end to end: `helpdesk run` on a real Prosody serves it, a staff member
asks the bot for `report` over XMPP, and headless Chromium follows the link, signs in once,
and cannot sign in with the same link again."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from browser import keep_screenshot, record_console
from playwright.async_api import Page
from xmpp_client import Account, ChatClient

from bot.app import run
from bot.config import Config, parse_config
from bot.prosody import ProsodyServer
from bot.servers import free_port
from commands.core import Helpdesk
from storage import migrate
from storage.db import make_engine, make_sessions

pytestmark = [pytest.mark.browser, pytest.mark.xmpp, pytest.mark.asyncio(loop_scope="session")]


@dataclass
class Site:
    config: Config
    manager: Account
    address: tuple[str, int]

    @property
    def bot(self) -> str:
        return self.config.xmpp.jid


@pytest_asyncio.fixture(loop_scope="session")
async def site(prosody: ProsodyServer, tmp_path: Path) -> AsyncIterator[Site]:
    suffix = tmp_path.name[-12:].lower().replace("_", "")
    bot = Account(prosody.register(f"webbot{suffix}", "pw-bot"), "pw-bot")
    manager = Account(prosody.register(f"manager{suffix}", "pw-m"), "pw-m")
    port = free_port()
    config = parse_config(
        {
            "xmpp": {"jid": bot.jid, "password": bot.password, "tls": "none",
                     "server": f"127.0.0.1:{prosody.c2s_port}"},
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'hd.db'}"},
            "web": {"listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}"},
            "language": "en",
        },
        {},
    )  # fmt: skip
    engine = make_engine(config.database.url)
    await migrate.upgrade(engine)
    core = Helpdesk(make_sessions(engine), language="en")
    await core.run_admin("dept", ["add", "ops", "Operators"])
    await core.run_admin("staff", ["add", "manager", manager.jid, "admin", "ops"])
    await core.run_admin("staff", ["set", "manager", "lang", "en"])
    await engine.dispose()
    stop = asyncio.Event()
    task = asyncio.create_task(run(config, stop))
    try:
        yield Site(config, manager, prosody.address)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_a_link_from_the_bot_signs_in_once(site: Site, page: Page) -> None:
    client = ChatClient.for_account(site.manager, site.address)
    await client.start()
    try:
        reply = await client.ask(site.bot, "report", timeout=15)
    finally:
        await client.stop()
    found = re.search(r"https?://\S+", reply)
    assert reply.startswith("Your link to the reports") and found is not None, reply
    link = found.group(0)
    console = record_console(page)

    await page.goto(link)  # a preview would stop here: the GET spends nothing
    await keep_screenshot(page, "sign in")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    assert "Signed in as @manager" in await page.content()
    await keep_screenshot(page, "signed in")

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_load_state()
    await page.goto(link)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    assert "This link is not valid any more" in await page.content()
    await page.goto(link.split("/login/")[0] + "/")
    assert "Signed in as" not in await page.content()  # nothing without a session
    assert not [m for m in console if "Content Security Policy" in m], console
