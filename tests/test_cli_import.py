"""`helpdesk import ...` as an admin runs it: a cp1251 phone book merged with the
customers, the review list and a decision, bad rows named by line, the exit codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli import main


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("HELPDESK_CONFIG", raising=False)
    path = tmp_path / "bot.yaml"
    path.write_text(
        "xmpp:\n  jid: helpdesk@example.test\n  password: x\n"
        f"database:\n  url: sqlite+aiosqlite:///{tmp_path / 'hd.db'}\n"
    )
    return path


def helpdesk(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out.strip(), err


def test_phonebook_review_and_resolve(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "phones.csv"
    book.write_bytes(
        "ФИО;Телефон;Кабинет\n"
        "Иванов Иван Иванович;+7 (495) 123-45-67;214\n"
        ";4522;215\n"  # no name: a bad row, line 3
        "Петрова Анна;4523;216\n"
        "петрова анна;4524;217\n".encode("cp1251")  # the same name again
    )
    c = ["--config", str(config)]
    code, out, err = helpdesk(capsys, *c, "import", "phonebook", str(book), "--dry-run")
    assert code == 0 and "dry run" in out and "phones.csv:3: skipped" in err
    code, out, _ = helpdesk(capsys, *c, "import", "phonebook", str(book))
    assert code == 0 and re.match(r"matched 0, new \d, ambiguous \d, bad 1", out), out
    code, out, _ = helpdesk(capsys, *c, "import", "phonebook", str(book))  # idempotent
    assert code == 0 and re.match(r"matched 0, new 0, ambiguous 0, bad 1", out), out
    code, out, _ = helpdesk(capsys, *c, "import", "review")
    assert code == 0
    rows = re.findall(r"row (\d+):", out)
    for row in rows:
        code, decided, _ = helpdesk(capsys, *c, "import", "resolve", row, "new")
        assert code == 0, decided
    code, out, _ = helpdesk(capsys, *c, "import", "review")
    assert out == "No phone-book rows wait for a decision."
    code, _, err = helpdesk(capsys, *c, "import", "resolve", "9999", "new")
    assert code == 2 and "Traceback" not in err


def test_missing_file_and_missing_ldap_section_are_usage_errors(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = helpdesk(capsys, "--config", str(config), "import", "phonebook", "nope.csv")
    assert code == 2 and "nope.csv: no such file" in err
    code, _, err = helpdesk(capsys, "--config", str(config), "import", "ldap")
    assert code == 2 and "no ldap: section" in err
