"""Shared pytest fixtures; each group lives in its own marked block."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from dialog import make_dialog
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


# ---------------------------------------------------------------------------
# END in-memory dialog fixtures
# ---------------------------------------------------------------------------
