"""`helpdesk chat --as LOGIN`: a terminal XMPP chat with the bot as a staff member."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType

import slixmpp
from slixmpp import JID
from slixmpp.stanza import Message
from sqlalchemy import select

from bot.config import Config, config_path, load_config
from bot.xmpp import configure_tls, disconnect
from storage.db import make_engine
from storage.models import Staff

readline: ModuleType | None
try:  # line editing and the session's history of typed lines, where the platform has it
    import readline
except ImportError:  # pragma: no cover - Windows
    readline = None

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


PROMPT = "> "
HISTORY = "/history"


@dataclass
class Transcript:
    """What was said in this chat session, both ways, for `/history`."""

    lines: list[str] = field(default_factory=list)

    def add(self, who: str, text: str, at: datetime | None = None) -> str:
        stamp = (at or datetime.now()).strftime("%H:%M:%S")
        line = f"[{stamp} {who}] {text}"
        self.lines.append(line)
        return line

    def show(self) -> str:
        return "\n".join(self.lines) if self.lines else "(nothing said yet)"


def _show_above_prompt(text: str) -> None:
    """Print a message that arrived while the person types, keeping what they typed: on a
    terminal the prompt line is cleared, the message printed, and the prompt and the
    half-typed line drawn again below it."""
    if sys.stdout.isatty() and readline is not None:
        typed = readline.get_line_buffer()
        sys.stdout.write(f"\r\x1b[K{text}\n{PROMPT}{typed}")
    else:
        sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


class TerminalChat(slixmpp.ClientXMPP):
    def __init__(self, jid: str, password: str, config: Config) -> None:
        super().__init__(jid, password)
        self.bot = JID(config.xmpp.jid)
        self.ready = asyncio.Event()
        self.transcript = Transcript()
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
            _show_above_prompt(self.transcript.add(sender, msg["body"]))

    def say(self, text: str) -> None:
        self.transcript.add("you", text)
        self.send_message(mto=self.bot, mbody=text, mtype="chat")


def _read_line() -> str | None:
    """One typed line (with readline's editing and this session's history on a
    terminal); None at the end of input."""
    try:
        return input(PROMPT)
    except EOFError:
        return None


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
    print(
        f"Chatting with {config.xmpp.jid} as {jid}. Type 'help'; notifications appear as "
        f"they arrive; {HISTORY} shows this session; Ctrl-D or 'quit' ends.",
        flush=True,
    )
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, _read_line)
        if line is None or line.strip() in ("quit", "exit"):
            break
        text = line.strip()
        if text == HISTORY:
            print(client.transcript.show(), flush=True)
        elif text:
            client.say(text)
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
