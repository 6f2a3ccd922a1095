"""The bot's `tls: starttls | direct | none` and `verify_tls` against a Prosody that
requires encryption and has a self-signed certificate."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import XmppConfig, parse_config
from bot.prosody import ProsodyServer
from bot.xmpp import HelpdeskBot


@pytest.fixture(scope="module")
def tls_prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProsodyServer]:
    server = ProsodyServer(Path(tmp_path_factory.mktemp("tls-prosody")), tls=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def xmpp_config(server: ProsodyServer, port: int, **settings: object) -> XmppConfig:
    jid = server.register("tlsbot", "pw-tlsbot")
    raw = {"jid": jid, "password": "pw-tlsbot", "server": f"127.0.0.1:{port}", **settings}
    return parse_config({"xmpp": raw}, {}).xmpp


async def no_commands(_jid: str, _text: str, _key: str | None) -> str | None:
    return None


async def connect(config: XmppConfig, wait: float) -> HelpdeskBot:
    bot = HelpdeskBot(config, no_commands)
    bot.start()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(bot.online.wait(), wait)
    return bot


@pytest.mark.parametrize(("tls", "port"), [("starttls", "c2s_port"), ("direct", "tls_port")])
async def test_encrypted_login_when_verification_is_off(
    tls_prosody: ProsodyServer, tls: str, port: str
) -> None:
    port = getattr(tls_prosody, port)
    bot = await connect(xmpp_config(tls_prosody, port, tls=tls, verify_tls=False), 10)
    try:
        assert bot.online.is_set()
        assert bot.transport.get_extra_info("ssl_object") is not None  # really encrypted
    finally:
        await bot.stop()


async def test_a_certificate_nobody_vouches_for_is_refused(tls_prosody: ProsodyServer) -> None:
    config = xmpp_config(tls_prosody, tls_prosody.c2s_port, tls="starttls", verify_tls=True)
    bot = await connect(config, 2)
    try:
        assert not bot.online.is_set()
    finally:
        await bot.stop()


async def test_plaintext_is_refused_by_a_server_that_requires_encryption(
    tls_prosody: ProsodyServer,
) -> None:
    bot = await connect(xmpp_config(tls_prosody, tls_prosody.c2s_port, tls="none"), 2)
    try:
        assert not bot.online.is_set()
    finally:
        await bot.stop()
