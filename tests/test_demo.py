"""`helpdesk demo` as a newcomer runs it: it starts, a real client can work with the
bot using the printed accounts, and Ctrl-C stops everything it started."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from xmpp_client import Account, ChatClient


def test_demo_runs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "demo", "--dir", str(workdir), "--no-install"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "HELPDESK_CONFIG"},
    )  # fmt: skip
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(60), "".join(lines)
        accounts = json.loads((workdir / "accounts.json").read_text())
        printed = "".join(lines)
        assert accounts["operator"]["password"] in printed
        assert "chat --as operator" in printed
        port = int(printed.split(", port ")[1].split(",")[0])
        replies = asyncio.run(_talk(accounts, port))
        assert replies[0].startswith("Commands you may use")
        assert replies[1].startswith("#") and "... and" in replies[1]  # seeded tickets
        assert replies[2].startswith("Ticket #") and "opened for @it" in replies[2]
        prosody_pid = int((workdir / "prosody" / "prosody.pid").read_text())
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    finally:
        proc.kill()
    assert proc.returncode == 0, "".join(lines)
    assert "The demo has stopped." in "".join(lines)
    assert not _alive(prosody_pid)
    assert "Traceback" not in "".join(lines)


async def _talk(accounts: dict[str, dict[str, str]], port: int) -> list[str]:
    operator = accounts["operator"]
    client = ChatClient.for_account(
        Account(operator["jid"], operator["password"]), ("127.0.0.1", port)
    )
    await client.start()
    try:
        bot = accounts["helpdesk"]["jid"]
        return [
            await client.ask(bot, "help", timeout=15),
            await client.ask(bot, "list"),
            await client.ask(bot, "new demo printer jams @it"),
        ]
    finally:
        await client.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
