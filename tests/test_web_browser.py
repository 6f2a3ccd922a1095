"""The report pages in headless Chromium: charts drawn, filters and CSV download working,
a phone layout, and not one Content-Security-Policy violation on the way."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from browser import keep_screenshot, record_console
from dialog import DialogBot, copy_of
from playwright.async_api import Page

from bot.config import WebConfig
from storage import web_auth
from storage.models import Customer
from storage.queries import staff_by_login
from web_readonly.app import init_app
from web_readonly.security import runner_options

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

NOW = datetime(2026, 11, 25, 9, 0)


@dataclass
class Site:
    bot: DialogBot
    url: str

    async def sign_in(self, page: Page, login: str) -> None:
        async with self.bot.sessions() as session, session.begin():
            staff = await staff_by_login(session, login)
            assert staff is not None
            token = await web_auth.create_link(
                session, staff.id, self.bot.clock(), timedelta(minutes=10)
            )
        await page.goto(f"{self.url}/login/{token}")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{self.url}/")


@pytest_asyncio.fixture(loop_scope="session")
async def site(staffed_template: Path, tmp_path: Path) -> AsyncIterator[Site]:
    bot = copy_of(staffed_template, tmp_path, NOW - timedelta(days=3))
    async with bot.sessions() as session, session.begin():
        session.add(Customer(full_name="Иванов Иван", login="ivanov", department="Бухгалтерия"))
    for login, text in [
        ("operator", "new from ivanov принтер замял бумагу @it !high"),
        ("operator", "new vpn for hr @hr"),
        ("operator", "new <script>alert(1)</script> @it ^2026-11-23"),
        ("operator", "call from ivanov сброс пароля"),
        ("w1", "take #1"),
        ("w1", "close #1"),
    ]:
        await bot.say(login, text)
    bot.clock.now = NOW
    app = init_app(bot.sessions, WebConfig(), clock=bot.clock, secure=False, language="en")
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(**runner_options())
    try:
        yield Site(bot, str(server.make_url("")).rstrip("/"))
    finally:
        await server.close()
        await bot.engine.dispose()


def csp_violations(console: list[str]) -> list[str]:
    return [m for m in console if "Content Security Policy" in m or m.startswith("pageerror")]


async def test_the_dashboard_draws_its_charts(site: Site, page: Page) -> None:
    console = record_console(page)
    await site.sign_in(page, "admin")
    assert await page.title() == "Dashboard · Helpdesk"
    assert await page.locator("svg[role=img]").count() >= 5
    assert await page.locator("svg[role=img] rect.chart-bar").count() > 0
    await page.get_by_role("combobox").first.select_option("7")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url("**/?days=7*")
    assert "Overdue now: 1" in await page.content()
    await keep_screenshot(page, "dashboard")
    for path in ("/workload", "/customers", "/calls"):
        await page.goto(site.url + path)
        assert await page.locator("[aria-current=page]").get_attribute("href") == path
        await keep_screenshot(page, path.strip("/"))
    assert not csp_violations(console), console


async def test_filter_export_and_open_a_ticket(site: Site, page: Page) -> None:
    console = record_console(page)
    await site.sign_in(page, "head_it")
    await page.goto(site.url + "/tickets")
    assert await page.locator("a[href^='/tickets/']").count() == 2  # #1 and #3, not HR's #2
    await page.get_by_label("Status").select_option("closed")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url("**/tickets?*status=closed*")
    assert await page.locator("a[href^='/tickets/']").count() == 1
    await keep_screenshot(page, "tickets filtered")

    async with page.expect_download() as info:
        await page.locator("a.csv-link").click()
    download = await info.value
    body = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["#1"]
    assert rows[1][-1] == "принтер замял бумагу"

    await page.locator("a[href='/tickets/1']").click()
    await page.wait_for_url("**/tickets/1")
    text = await page.content()
    assert "принтер замял бумагу" in text and "@w1 closed it" in text
    await keep_screenshot(page, "ticket")
    await page.goto(site.url + "/tickets/2")  # HR's: not for the head of IT
    assert "There is no such page." in await page.content()
    assert not csp_violations(console), console


async def test_the_dashboard_on_a_phone(site: Site, phone_page: Page) -> None:
    console = record_console(phone_page)
    await site.sign_in(phone_page, "admin")
    width = await phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # wide tables scroll inside their wrappers, not the page
    assert await phone_page.locator("svg[role=img]").count() >= 5
    await keep_screenshot(phone_page, "dashboard phone")
    await phone_page.goto(site.url + "/tickets")
    assert await phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    await keep_screenshot(phone_page, "tickets phone")
    assert not csp_violations(console), console
