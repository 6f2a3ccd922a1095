"""Shared pytest fixtures; each group lives in its own marked block."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from dialog import START, DialogBot, copy_of, make_dialog
from xmpp_client import Account, AccountFactory, ChatClient, ClientFactory

from bot.prosody import ProsodyNotInstalled, ProsodyServer, ensure_prosody_installed

# ---------------------------------------------------------------------------
# BEGIN real Prosody fixtures (owner: bot/prosody.py harness)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProsodyServer]:
    """One Prosody for the whole run, on free loopback ports, in a temporary folder."""
    try:
        ensure_prosody_installed(install=False)
    except ProsodyNotInstalled as missing:
        where = "on CI" if os.environ.get("CI") else "on this machine"
        # Never skip: a missing server must not turn integration tests green.
        pytest.fail(f"{missing} (needed {where} by the integration tests)", pytrace=False)
    server = ProsodyServer(workdir=Path(tmp_path_factory.mktemp("prosody")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def xmpp_account(prosody: ProsodyServer) -> AccountFactory:
    """Register fresh accounts: `xmpp_account()` or `xmpp_account("alice")`.

    Names are unique per call so one test's offline messages never reach another.
    """

    def register(prefix: str = "user") -> Account:
        user = f"{prefix}-{uuid.uuid4().hex[:12]}"
        password = uuid.uuid4().hex
        return Account(prosody.register(user, password), password)

    return register


@pytest.fixture
async def xmpp_client(
    prosody: ProsodyServer, xmpp_account: AccountFactory
) -> AsyncIterator[ClientFactory]:
    """ChatClients stopped after the test: `client = await xmpp_client()`.

    Logs in as `account` if given, else as a freshly registered one; with
    `start=False` the client is made but not connected.
    """
    clients: list[ChatClient] = []

    async def make(account: Account | None = None, *, start: bool = True) -> ChatClient:
        client = ChatClient.for_account(account or xmpp_account(), prosody.address)
        clients.append(client)
        if start:
            await client.start()
        return client

    yield make
    for client in clients:
        await client.stop()


# ---------------------------------------------------------------------------
# END real Prosody fixtures
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# BEGIN real slapd fixtures (owner: tests/slapd.py harness, LDAP importer)
# ---------------------------------------------------------------------------
# imported here so this block stays self-contained
from slapd import SlapdNotInstalled, SlapdServer, ensure_slapd_installed  # noqa: E402


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    """One slapd for the whole run on a free loopback port: AD-like schema, memberOf,
    a 500-entry size limit, TLS (StartTLS and ldaps) with a self-signed certificate."""
    missing = ""
    try:
        ensure_slapd_installed()
    except SlapdNotInstalled as exc:
        missing = str(exc)
    if missing:  # failed outside the except block: no chained traceback
        where = "on CI (install it in the CI image)" if os.environ.get("CI") else "here"
        # never skip: a missing server must not turn the importer's tests green
        pytest.fail(f"{missing}; the LDAP tests need it {where}", pytrace=False)
    server = SlapdServer(workdir=Path(tmp_path_factory.mktemp("slapd")), tls=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# END real slapd fixtures
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# BEGIN in-memory dialog fixtures (owner: tests/dialog.py harness)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def staffed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The departments and staff of tests/dialog.py in a SQLite file, built once per run;
    a test works on a copy (`dialog.copy_of`)."""
    path = tmp_path_factory.mktemp("dialog") / "staffed.db"

    async def build() -> None:
        await (await make_dialog(f"sqlite+aiosqlite:///{path}")).engine.dispose()

    asyncio.run(build())
    return path


@pytest.fixture
async def dialog_bot(staffed_template: Path, tmp_path: Path) -> AsyncIterator[DialogBot]:
    """A DialogBot on this test's copy of `staffed_template`, its clock at `dialog.START`
    (a test may move `dialog_bot.clock.now`); its engine disposed after."""
    bot = copy_of(staffed_template, tmp_path, START)
    yield bot
    await bot.engine.dispose()


# ---------------------------------------------------------------------------
# END in-memory dialog fixtures
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# BEGIN headless Chromium fixtures (owner: tests/browser.py harness, web page)
# ---------------------------------------------------------------------------
# One Chromium per run, shared by all tests. With pytest-asyncio 1.x and
# `asyncio_default_fixture_loop_scope = "function"`, Playwright objects belong to the loop
# that made them, so everything a browser test touches must run in the *session* loop:
#   - the test module:
#     `pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]`
#   - any async fixture of its own (a web server, a database):
#     `@pytest_asyncio.fixture(loop_scope="session")` (its scope may stay "function").
# `page` and `phone_page` fail at once on a test that is not in the session loop. A fixture
# left in the function loop is not caught: its server is never polled, so `page.goto` fails
# with "Timeout 10000ms exceeded".
# imported here so this block stays self-contained
from typing import TYPE_CHECKING  # noqa: E402

import pytest_asyncio  # noqa: E402
from browser import (  # noqa: E402
    ChromiumNotInstalled,
    artifacts_dir,
    ensure_chromium_installed,
    running_chromium,
)

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, ViewportSize

PAGE_VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
PHONE_VIEWPORT: ViewportSize = {"width": 390, "height": 844}
# Playwright's default is 30 s per action: a broken page should fail sooner than that
BROWSER_TIMEOUT_MS = 10_000


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium (Debian's, via Playwright) for the whole run."""
    missing = ""
    try:
        ensure_chromium_installed()
    except ChromiumNotInstalled as exc:
        missing = str(exc)
    if missing:  # failed outside the except block: no chained traceback
        where = "on CI (scripts/setup.sh installs it)" if os.environ.get("CI") else "here"
        # never skip: a missing browser must not turn the web page's tests green
        pytest.fail(f"{missing}; the browser tests need it {where}", pytrace=False)
    async with running_chromium() as chromium:
        yield chromium


def _require_session_loop(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("asyncio")
    if marker is None or marker.kwargs.get("loop_scope") != "session":
        pytest.fail(
            f"{request.node.nodeid} uses the shared browser: mark its module "
            '`pytest.mark.asyncio(loop_scope="session")` (see the conftest block)',
            pytrace=False,
        )


async def _new_page(context: BrowserContext) -> Page:
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    return await context.new_page()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A page in a fresh browser context (no cookies shared between tests), 1280x800."""
    _require_session_loop(request)
    context = await browser.new_context(viewport=PAGE_VIEWPORT)
    try:
        yield await _new_page(context)
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def phone_page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A page in a fresh phone-like context: 390x844, touch, mobile layout."""
    _require_session_loop(request)
    context = await browser.new_context(
        viewport=PHONE_VIEWPORT,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        yield await _new_page(context)
    finally:
        await context.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say where this run's screenshots are, so CI logs point at them."""
    folder = artifacts_dir(create=False)
    if folder is not None:
        terminalreporter.write_line(f"browser screenshots: {folder}")


# ---------------------------------------------------------------------------
# END headless Chromium fixtures
# ---------------------------------------------------------------------------
