"""The headless-Chromium harness itself, against a tiny aiohttp site: text, a form, a CSV
download, screenshots on desktop and phone viewports, and a Content-Security-Policy that the
browser really enforces (the web page relies on it against injected script)."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from browser import keep_screenshot, record_console
from playwright.async_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

CSV = "number,subject\r\n1,Printer on fire\r\n2,Ünïcode résumé\r\n"
INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Harness</title></head>
<body><h1>Open tickets</h1>
<form method="post" action="/search">
  <label>Subject <input name="subject" id="subject"></label>
  <button type="submit">Search</button>
</form>
<a id="csv" href="/tickets.csv" download>Download CSV</a>
</body></html>"""
CSP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>safe</title>
<script src="/app.js"></script>
<script>document.title = 'pwned';</script>
</head><body><p>CSP</p></body></html>"""
CSP = "script-src 'self'"


async def _index(request: web.Request) -> web.Response:
    return web.Response(text=INDEX, content_type="text/html")


async def _search(request: web.Request) -> web.Response:
    form = await request.post()
    subject = html.escape(str(form.get("subject", "")))
    body = f'<!doctype html><title>Results</title><p id="result">Searched for: {subject}</p>'
    return web.Response(text=body, content_type="text/html")


async def _csv(request: web.Request) -> web.Response:
    return web.Response(
        body=CSV.encode(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="tickets.csv"'},
    )


async def _csp_page(request: web.Request) -> web.Response:
    headers = {"Content-Security-Policy": CSP}
    return web.Response(text=CSP_PAGE, content_type="text/html", headers=headers)


async def _app_js(request: web.Request) -> web.Response:
    # an allowed script, so the test tells "CSP blocked it" from "scripts do not run"
    script = "addEventListener('DOMContentLoaded', () => { document.body.dataset.ran = 'yes'; });"
    return web.Response(text=script, content_type="text/javascript")


@pytest_asyncio.fixture(loop_scope="session")
async def site() -> AsyncIterator[str]:
    """The site's base URL, on a free loopback port, in the browser's (session) loop."""
    app = web.Application()
    app.router.add_get("/", _index)
    app.router.add_post("/search", _search)
    app.router.add_get("/tickets.csv", _csv)
    app.router.add_get("/csp", _csp_page)
    app.router.add_get("/app.js", _app_js)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]  # port 0: the kernel chose a free one
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def test_reads_fills_and_submits_a_form(page: Page, site: str) -> None:
    await page.goto(site)
    assert await page.title() == "Harness"
    assert await page.locator("h1").inner_text() == "Open tickets"
    await page.fill("#subject", "Printer <on> fire")
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    assert await page.locator("#result").inner_text() == "Searched for: Printer <on> fire"


async def test_downloads_the_csv(page: Page, site: str) -> None:
    await page.goto(site)
    async with page.expect_download() as download_info:
        await page.click("#csv")
    download = await download_info.value
    assert download.suggested_filename == "tickets.csv"
    assert await download.failure() is None
    saved = Path(await download.path())
    assert (await asyncio.to_thread(saved.read_bytes)).decode("utf-8") == CSV


async def test_keeps_a_full_page_screenshot(page: Page, site: str) -> None:
    await page.goto(site)
    first = await keep_screenshot(page, "harness desktop")
    second = await keep_screenshot(page, "harness desktop")
    assert first.name == "harness-desktop.png"
    assert second.name == "harness-desktop-2.png"
    assert first.parent == second.parent
    data = await asyncio.to_thread(first.read_bytes)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert _png_size(data) == (1280, 800)


async def test_phone_viewport(phone_page: Page, site: str) -> None:
    await phone_page.goto(site)
    assert await phone_page.evaluate("window.innerWidth") == 390
    assert await phone_page.evaluate("navigator.maxTouchPoints") > 0
    shot = await keep_screenshot(phone_page, "harness phone")
    width, _height = _png_size(await asyncio.to_thread(shot.read_bytes))
    assert width == 390 * 2  # device pixels: 390 CSS px at a scale factor of 2
    await phone_page.fill("#subject", "from a phone")
    async with phone_page.expect_navigation():
        await phone_page.tap("button[type=submit]")
    assert await phone_page.locator("#result").inner_text() == "Searched for: from a phone"
    # the results page has no <meta name="viewport">: a phone lays it out 980 px wide and
    # shrinks it, as real phones do, so every page of the web site needs that tag
    assert await phone_page.evaluate("window.innerWidth") == 980


async def test_content_security_policy_blocks_inline_script(page: Page, site: str) -> None:
    console = record_console(page)
    async with page.expect_console_message(
        lambda message: "Content Security Policy" in message.text
    ) as violation:
        await page.goto(f"{site}/csp")
    assert await page.title() == "safe"
    assert await page.locator("body").get_attribute("data-ran") == "yes"
    message = await violation.value
    assert message.type == "error"
    assert "inline script" in message.text
    assert any("Content Security Policy" in line for line in console), console


def _png_size(data: bytes) -> tuple[int, int]:
    # the IHDR chunk always comes first: width and height are its first 8 bytes
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
