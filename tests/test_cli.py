"""The `helpdesk` command line: exit codes, --config anywhere, --help everywhere, and the
admin commands writing the same rows as their chat versions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser, main

SECRET = "s3cret-never-shown"


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "bot.yaml"
    path.write_text(
        "xmpp:\n  jid: helpdesk@example.test\n  password: ${PW}\n"
        f"database:\n  url: sqlite+aiosqlite:///{tmp_path / 'hd.db'}\n{extra}"
    )
    return path


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PW", SECRET)
    monkeypatch.delenv("HELPDESK_CONFIG", raising=False)
    return write_config(tmp_path)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=60
    )


def helpdesk(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_subcommand_has_help() -> None:
    paths = [[], ["run"], ["db"], ["db", "upgrade"], ["dept"], ["dept", "add"], ["staff"],
             ["staff", "add"], ["staff", "set"], ["staff", "off"], ["chat"], ["demo"]]  # fmt: skip
    for path in paths:
        result = run(*path, "--help")
        assert result.returncode == 0, (path, result.stderr)
        assert result.stdout.startswith("usage: helpdesk"), path


def test_bad_usage_exits_2() -> None:
    assert run("frobnicate").returncode == 2
    assert run("staff", "add", "onlylogin").returncode == 2


def test_a_bad_config_is_one_line_naming_the_key_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text(f"xmpp:\n  jid: helpdesk@example.test\n  password: {SECRET}\n  tls: ssl\n")
    result = run("--config", str(path), "db", "upgrade")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "xmpp.tls" in result.stderr and "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
    missing = run("--config", str(tmp_path / "nope.yaml"), "run")
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr


def test_config_is_accepted_before_or_after_the_subcommand(config: Path) -> None:
    parser = build_parser()
    assert parser.parse_args(["--config", "a.yaml", "run"]).config == "a.yaml"
    assert parser.parse_args(["run", "--config", "b.yaml"]).config == "b.yaml"
    assert parser.parse_args(["staff", "off", "x", "--config", "c.yaml"]).config == "c.yaml"
    assert parser.parse_args(["run"]).config is None


def test_db_upgrade_applies_once(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = helpdesk(capsys, "db", "upgrade", "--config", str(config))
    assert (code, out.strip()) == (0, "applied: 0001, 0002, 0003, 0004, 0005, 0006")
    code, out, _ = helpdesk(capsys, "--config", str(config), "db", "upgrade")
    assert (code, out.strip()) == (0, "the database is up to date")


def test_first_department_and_admin_from_the_command_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ["--config", str(config)]
    assert helpdesk(capsys, *c, "dept", "add", "it", "IT", "department")[:2] == (
        0, "Department @it (IT department) added.\n",
    )  # fmt: skip
    assert helpdesk(capsys, *c, "dept", "add", "ops", "Operators")[0] == 0
    code, out, _ = helpdesk(capsys, *c, "staff", "add", "boss", "boss@example.test", "admin",
                            "ops", "it")  # fmt: skip
    assert code == 0 and out.strip() == "@boss (boss@example.test) added as admin of @ops +@it."
    code, out, _ = helpdesk(capsys, *c, "staff", "set", "boss", "lang", "ru")
    assert code == 0 and "lang is ru" in out
    code, _, err = helpdesk(capsys, *c, "staff", "off", "boss")
    assert code == 1 and "last active admin" in err  # refused, not a usage error
    code, _, err = helpdesk(capsys, *c, "staff", "add", "x", "not-a-jid", "user", "it")
    assert code == 2 and "not a JID" in err and "Usage: staff add" in err
    code, _, err = helpdesk(capsys, *c, "dept", "add", "it", "Again")
    assert code == 1 and err.strip() == "helpdesk: Department @it exists already."


def test_chat_names_an_unknown_login(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert helpdesk(capsys, "--config", str(config), "db", "upgrade")[0] == 0
    code, _, err = helpdesk(capsys, "chat", "--as", "nobody", "--config", str(config))
    assert code == 2 and "no staff member with login nobody" in err
