"""`helpdesk demo`: a local Prosody, demo staff and customers, and the bot, on loopback."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import shutil
import sys
from pathlib import Path

from bot import seed
from bot.app import run
from bot.config import Config, load_config
from bot.prosody import ProsodyFailed, ProsodyNotInstalled, ProsodyServer, ensure_prosody_installed
from commands.core import Helpdesk
from storage import migrate
from storage.db import make_engine, make_sessions

DOMAIN = "localhost"
BOT = "helpdesk"
CUSTOMERS = 300
TICKETS = 120


def _write_private(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def _write_config(workdir: Path, port: int, password: str) -> Path:
    path = workdir / "bot.yaml"
    _write_private(
        path,
        f"""# written by `helpdesk demo`; passwords are made anew on each run
xmpp:
  jid: {BOT}@{DOMAIN}
  password: "{password}"
  server: 127.0.0.1:{port}
  tls: none            # loopback only
database:
  url: sqlite+aiosqlite:///{(workdir / "helpdesk.db").resolve()}
attachments:
  folder: {(workdir / "attachments").resolve()}
schedule:
  timezone: Europe/Moscow
language: en
""",
    )
    return path


def _accounts(prosody: ProsodyServer) -> dict[str, dict[str, str]]:
    accounts = {}
    for login in [BOT, *(s[0] for s in seed.STAFF)]:
        password = secrets.token_urlsafe(9)
        accounts[login] = {"jid": prosody.register(login, password), "password": password}
    return accounts


async def _seed(config: Config) -> None:
    engine = make_engine(config.database.url)
    try:
        await migrate.upgrade(engine)
        sessions = make_sessions(engine)
        core = Helpdesk(sessions, language="en", timezone=config.schedule.timezone)
        rng = random.Random(2026)
        await seed.seed_staff(core, DOMAIN)
        await seed.seed_customers(sessions, CUSTOMERS, rng)
        await seed.seed_demo_tickets(core, DOMAIN, CUSTOMERS, TICKETS, rng)
    finally:
        await engine.dispose()


def _print_details(prosody: ProsodyServer, accounts: dict[str, dict[str, str]]) -> None:
    host, port = prosody.address
    print(f"""
The helpdesk demo is running.
  XMPP server: {host}, port {port}, no TLS (loopback only); the bot is {BOT}@{DOMAIN}
  Staff accounts (login: JID / password):""")
    for login, account in accounts.items():
        if login != BOT:
            print(f"    {login:9} {account['jid']:22} / {account['password']}")
    print(
        f"""  In an XMPP client: connect to the server and port above, write to the bot: help
  In a terminal (another window, this folder): {_helpdesk()} chat --as operator
  Ctrl-C stops everything.
""",
        flush=True,
    )


def _helpdesk() -> str:
    """How to call `helpdesk` from the current folder."""
    program = Path(sys.argv[0]).resolve()
    if shutil.which("helpdesk") and Path(shutil.which("helpdesk") or "").resolve() == program:
        return "helpdesk"
    try:
        return str(program.relative_to(Path.cwd()))
    except ValueError:
        return str(program)


def run_demo(workdir: Path, *, install: bool) -> int:
    try:
        ensure_prosody_installed(install)
    except (ProsodyNotInstalled, OSError) as exc:
        print(f"helpdesk: {exc}", file=sys.stderr)
        return 1
    workdir = workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh demo each time
    workdir.mkdir(parents=True)
    # with HTTP upload, so photos can be sent to tickets from a client
    prosody = ProsodyServer(workdir / "prosody", domain=DOMAIN, upload=True)
    try:
        prosody.start()
        accounts = _accounts(prosody)
        _write_private(workdir / "accounts.json", json.dumps(accounts, indent=2))
        config = load_config(_write_config(workdir, prosody.c2s_port, accounts[BOT]["password"]))
        asyncio.run(_seed(config))
        (workdir / "running").touch()
        _print_details(prosody, accounts)
        asyncio.run(run(config))
    except ProsodyFailed as exc:
        print(f"helpdesk: Prosody did not start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        (workdir / "running").unlink(missing_ok=True)
        prosody.stop()
    print("The demo has stopped.")
    return 0
