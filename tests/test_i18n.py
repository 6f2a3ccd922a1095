"""The message catalogs (commands/locale/<lang>/LC_MESSAGES/helpdesk.po): English and
Russian hold the same messages with the same placeholders, every key the code or a
template names is in both, every command has its help line in both, and help lists the
Russian words for each command."""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from dialog import DialogBot

import commands.core  # noqa: F401  (registers every command)
from commands.i18n import CATALOG, LANGUAGES, catalog_path
from commands.registry import REGISTRY
from storage.models import Role

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "commands", "storage", "importers", "web_readonly")
# functions that take a message key: t(language, key), x.t(key), the errors' key
KEY_FIRST = {"CommandError", "UsageError"}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_both_catalogs_parse_whole_and_hold_the_same_messages() -> None:
    keys = {}
    for language in LANGUAGES:
        raw = catalog_path(language).read_text(encoding="utf-8")
        with catalog_path(language).open("rb") as po:
            catalog = read_po(po, locale=language)
        messages = [m for m in catalog if m.id]
        # one entry per msgid (Babel would merge a duplicate silently), none fuzzy or empty
        assert len(messages) == len(re.findall(r"^msgid ", raw, re.MULTILINE)) - 1, language
        assert not [m.id for m in messages if m.fuzzy or not m.string], language
        keys[language] = {str(m.id) for m in messages}
        assert keys[language] == CATALOG[language].keys(), language
    assert keys["en"] == keys["ru"], keys["en"] ^ keys["ru"]


def test_each_message_has_the_same_placeholders_in_both_languages() -> None:
    en, ru = CATALOG["en"], CATALOG["ru"]
    differ = {key: (_fields(en[key]), _fields(ru[key])) for key in en}
    assert {key: pair for key, pair in differ.items() if pair[0] != pair[1]} == {}


def _code_keys() -> Iterator[tuple[str, str]]:
    """(file:line, key) for every literal message key in the code."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                args = node.args
                key: ast.expr | None = None
                method = isinstance(func, ast.Attribute) and func.attr == "t"
                error = isinstance(func, ast.Name) and func.id in KEY_FIRST
                if isinstance(func, ast.Name) and func.id == "t" and len(args) >= 2:
                    key = args[1]
                elif (method or error) and args:
                    key = args[0]
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}", key.value


def _template_keys() -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "web_readonly" / "templates").glob("*.html")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for key in re.findall(r"""\bt\(\s*["']([\w.]+)["']\s*[,)]""", line):
                yield f"{path.relative_to(ROOT)}:{number}", key


def test_every_key_the_code_and_the_templates_name_is_in_both_catalogs() -> None:
    named = list(_code_keys()) + list(_template_keys())
    assert len(named) > 250  # the scan finds the code's keys (a broken scan finds none)
    missing = [
        (at, key, lang) for at, key in named for lang in LANGUAGES if key not in CATALOG[lang]
    ]
    assert missing == []


def test_every_command_has_its_help_line_in_both_languages() -> None:
    for command in REGISTRY.available_to(Role.ADMIN):
        for language in LANGUAGES:
            assert f"help.{command.name}" in CATALOG[language], (language, command.name)


@pytest.mark.parametrize("language", LANGUAGES)
def test_english_help_lines_follow_the_docstrings(language: str) -> None:
    """The English help line is the command's docstring's first line, so the two cannot
    drift apart; the Russian one is its translation."""
    for command in REGISTRY.available_to(Role.ADMIN):
        text = CATALOG[language][f"help.{command.name}"]
        if language == "en":
            assert text == command.summary, command.name
        else:
            assert text != command.summary and re.search("[а-яё]", text, re.I), command.name


@pytest.fixture
def bot(dialog_bot: DialogBot) -> DialogBot:
    return dialog_bot


async def test_help_lists_the_russian_words_for_each_command(bot: DialogBot) -> None:
    assert await bot.say("admin", "staff set w1 lang ru") == "@w1: lang is ru now."
    help_text = await bot.say("w1", "помощь") or ""
    assert "Взять заявку: теперь она ваша, в работе. (или: взять, беру)" in help_text
    assert "(или: закрыть, готово)" in help_text
    one = await bot.say("w1", "help take") or ""
    assert one.endswith("(или: взять, беру)")
    english = await bot.say("w2", "help") or ""
    assert "(also: взять, беру)" in english  # the Russian words work for everyone
