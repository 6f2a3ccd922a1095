"""`helpdesk chat --as LOGIN`: a terminal XMPP chat with the bot as a staff member."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
from pathlib import Path

import slixmpp
from slixmpp import JID
from slixmpp.stanza import Message
from sqlalchemy import select

from bot.config import Config, config_path, load_config
from bot.xmpp import configure_tls, disconnect
from storage.db import make_engine
from storage.models import Staff

DEMO_DIR = Path(".demo")
ACCOUNTS = "accounts.json"


def resolve_config(cli_value: str | None) -> Path:
    """--config, then $HELPDESK_CONFIG, then a running demo's config, then ./bot.yaml."""
    if cli_value is None and "HELPDESK_CONFIG" not in os.environ:
        demo = DEMO_DIR / "bot.yaml"
        if demo.exists() and (DEMO_DIR / "running").exists():
            return demo
    return config_path(cli_value, os.environ)


def _demo_password(config_file: Path, login: str) -> str | None:
    accounts = config_file.parent / ACCOUNTS
    if not accounts.exists():
        return None
    known: dict[str, dict[str, str]] = json.loads(accounts.read_text())
    return known.get(login, {}).get("password")


async def _staff_jid(config: Config, login: str) -> str | None:
    engine = make_engine(config.database.url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(select(Staff.jid).where(Staff.login == login.lower()))
    finally:
        await engine.dispose()


class TerminalChat(slixmpp.ClientXMPP):
    def __init__(self, jid: str, password: str, config: Config) -> None:
        super().__init__(jid, password)
        self.bot = JID(config.xmpp.jid)
        self.ready = asyncio.Event()
        configure_tls(self, config.xmpp)
        self.add_event_handler("session_start", self._started)
        self.add_event_handler("message", self._incoming)
        self.add_event_handler("failed_auth", lambda _e: self.ready.set())

    def _started(self, _event: object) -> None:
        self.send_presence()
        self.ready.set()

    def _incoming(self, msg: Message) -> None:
        if msg["type"] in ("chat", "normal") and msg["body"]:
            sender = "bot" if msg["from"].bare == self.bot.bare else str(msg["from"].bare)
            print(f"\n[{sender}] {msg['body']}\n> ", end="", flush=True)


async def _chat(config: Config, jid: str, password: str) -> int:
    client = TerminalChat(jid, password, config)
    address = config.xmpp.host_port()
    client.connect(*address) if address else client.connect()
    try:
        await asyncio.wait_for(client.ready.wait(), 15)
    except TimeoutError:
        print("helpdesk: could not reach the XMPP server", file=sys.stderr)
        return 1
    if not client.authenticated:
        print(f"helpdesk: the server refused the login of {jid}", file=sys.stderr)
        return 1
    print(f"Chatting with {config.xmpp.jid} as {jid}. Type 'help'; Ctrl-D or 'quit' ends.")
    loop = asyncio.get_running_loop()
    while True:
        print("> ", end="", flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() in ("quit", "exit"):
            break
        if line.strip():
            client.send_message(mto=client.bot, mbody=line.strip(), mtype="chat")
    await disconnect(client)
    return 0


def run_chat(config_arg: str | None, login: str, password: str | None) -> int:
    path = resolve_config(config_arg)
    config = load_config(path)
    jid = asyncio.run(_staff_jid(config, login))
    if jid is None:
        print(f"helpdesk: no staff member with login {login}", file=sys.stderr)
        return 2
    password = (
        password
        or os.environ.get("HELPDESK_CHAT_PASSWORD")
        or _demo_password(path, login)
        or getpass.getpass(f"Password for {jid}: ")
    )
    return asyncio.run(_chat(config, jid, password))
