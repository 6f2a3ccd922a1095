"""Every text the helpdesk shows a person, in the languages that ship (English, Russian),
from gettext catalogs read with Babel.

The catalogs are `commands/locale/<language>/LC_MESSAGES/helpdesk.po`. A message's msgid
is its key (`not_found`, `notice.open`, `web.dash.backlog`, `help.take`), its msgstr the
text, with `{name}` placeholders that `t()` fills with str.format. Keys rather than
English sentences as msgids keep a reworded English text from orphaning its translation,
and let tests check that both catalogs hold every key the code uses
(tests/test_i18n.py). To add a message: add the key to both .po files.

The .po files are read once, at import (a few milliseconds); a text missing from a
language falls back to English, and a key missing from both is a bug the tests catch.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = ("en", "ru")
DOMAIN = "helpdesk"
LOCALE_DIR = Path(__file__).with_name("locale")


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(language: str) -> dict[str, str]:
    """The translated, not fuzzy messages of a language, by key."""
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    return {
        str(m.id): str(m.string)
        for m in catalog
        if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string
        and not m.fuzzy
    }  # fmt: skip


CATALOG: dict[str, dict[str, str]] = {language: read_catalog(language) for language in LANGUAGES}
EN = CATALOG["en"]
RU = CATALOG["ru"]


def t(language: str, key: str, **params: object) -> str:
    """The text of `key` in `language` (English when missing), formatted."""
    template = CATALOG.get(language, EN).get(key) or EN[key]
    return template.format(**params)
