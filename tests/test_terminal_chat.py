"""`helpdesk chat --as LOGIN` as a person uses it: a real process talking to the real bot
through a real Prosody; a notification shows up while nothing is typed, and `/history`
repeats the session, both ways."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from live_desk import bot_settings, running, seed, staff_accounts
from xmpp_client import Account, AccountFactory, ClientFactory

from bot.config import load_config
from bot.prosody import ProsodyServer

pytestmark = pytest.mark.xmpp


class Terminal:
    """The chat process, its output collected line by line as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.output = ""
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(4096):
            self.output += chunk.decode()

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())

    async def shows(self, text: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert time.monotonic() < deadline, f"{text!r} not shown in:\n{self.output}"
            await asyncio.sleep(0.02)
        return self.output

    async def close(self) -> int:
        if self.proc.returncode is None:
            self.proc.kill()
        code = await self.proc.wait()
        await self._reader
        return code


@pytest.fixture
async def desk(
    prosody: ProsodyServer, xmpp_account: AccountFactory, tmp_path: Path
) -> AsyncIterator[tuple[Path, dict[str, Account]]]:
    staff = [("operator", "user", "it"), ("w1", "user", "it")]
    accounts = staff_accounts(xmpp_account, staff)
    bot = xmpp_account("bot")
    config_file = tmp_path / "bot.yaml"
    config_file.write_text(yaml.safe_dump(bot_settings(prosody, bot, tmp_path)))
    config = load_config(config_file)
    await seed(config, staff, accounts, ["it"], language=None)  # no language of their own
    async with running(config):
        yield config_file, accounts


async def start_chat(config_file: Path, login: str, password: str) -> Terminal:
    env = {k: v for k, v in os.environ.items() if k != "HELPDESK_CONFIG"}
    env["HELPDESK_CHAT_PASSWORD"] = password
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "chat", "--as", login, "--config", str(config_file),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    return Terminal(proc)


async def test_notifications_arrive_while_idle_and_history_repeats_the_session(
    desk: tuple[Path, dict[str, Account]], xmpp_client: ClientFactory
) -> None:
    config_file, accounts = desk
    terminal = await start_chat(config_file, "w1", accounts["w1"].password)
    try:
        await terminal.shows("Chatting with")
        terminal.type("help")
        await terminal.shows("Commands you may use")
        operator = await xmpp_client(accounts["operator"])
        bot = load_config(config_file).xmpp.jid
        opened = await operator.ask(bot, "new printer jams on floor 3 @w1", timeout=10)
        number = opened.split()[1]  # "Ticket #N opened ..."
        # nothing typed since: the notice is printed as it comes
        await terminal.shows(f"{number} ")
        shown = terminal.output
        assert "printer jams on floor 3" in shown[shown.index("Commands you may use") :]
        before = len(terminal.output)
        terminal.type("/history")
        await terminal.shows("you] help")
        await terminal.shows("printer jams on floor 3", timeout=5)
        history = (await terminal.shows(f"bot] {number} ", timeout=5))[before:]
        lines = history.splitlines()
        said = [line.split("] ", 1)[0].split()[-1] for line in lines if line.startswith("[")]
        assert said[:3] == ["you", "bot", "bot"], history  # in order: help, its answer, the notice
        assert "Commands you may use" in lines[1]
        terminal.type("quit")
        assert await asyncio.wait_for(terminal.proc.wait(), 15) == 0
    finally:
        await terminal.close()
    assert "Traceback" not in terminal.output


async def test_a_wrong_password_ends_with_a_clear_line(
    desk: tuple[Path, dict[str, Account]],
) -> None:
    config_file, _ = desk
    terminal = await start_chat(config_file, "w1", "not the password")
    try:
        assert await asyncio.wait_for(terminal.proc.wait(), 30) == 1
    finally:
        await terminal.close()
    assert "refused the login" in terminal.output
    assert "Traceback" not in terminal.output
