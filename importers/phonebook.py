"""Reading the company phone book into rows of full name, phones and room: a CSV in any
common encoding and delimiter, the .xlsx sheet or the .docx table itself. A bad row is
reported with its line and skipped; the rest is read. Blocking: run in a thread."""

from __future__ import annotations

import codecs
import csv
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import docx
import openpyxl

from importers.phones import split_phones

HEADER_SEARCH_ROWS = 20  # a title or a blank line or two may stand above the header
MAX_RECORD_LINES = 10  # a quoted cell spanning more lines is an unclosed quote
NAME_MAX = 255
ROOM_MAX = 64
PHONE_MAX = 64
DELIMITERS = (";", "\t", ",")  # in order of preference when two fit equally
ENCODINGS = ("cp1251", "koi8_r", "cp866")  # single-byte ones: each decodes almost anything

# Header names, compared by their letters only, in lower case, ё as е ("Ф.И.О." is "фио").
# A header equal to one of the names, or starting with one of the prefixes, is the column.
DEFAULT_HEADERS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "full_name": (
        frozenset({"фио", "фамилияимяотчество", "фамилияимя", "сотрудник", "работник",
                   "name", "fullname", "employee", "displayname"}),
        (),
    ),
    "phone": (
        frozenset({"tel", "ext", "вн", "внтел"}),
        ("тел", "phone", "telephone", "внутр", "мобил", "добав", "mobile", "extension"),
    ),
    "room": (
        frozenset({"каб", "ком", "кабинет", "комната", "room", "office"}),
        ("кабинет", "комнат", "помещен", "room", "office"),
    ),
}  # fmt: skip

# How common each letter is in Russian text (per mille): the right decoding of a
# single-byte file is the one that reads most like Russian.
_LETTER_FREQUENCY = dict(zip(
    "оеаинтсрвлкмдпуяызьбгчйхжшюцщэфъё",
    (110, 85, 80, 74, 67, 63, 55, 47, 45, 44, 35, 32, 30, 28, 26, 20, 19, 17, 17, 16, 16,
     14, 12, 10, 9, 7, 6, 5, 4, 3, 3, 1, 1),
    strict=True,
))  # fmt: skip
_MISCASED = re.compile(r"[а-яё][А-ЯЁ]")  # "иВАНОВ": KOI8-R read as cp1251, or the reverse
# no Russian word starts with ь, ъ or ы, and four consonants in a row are rare
_UNSPELLABLE = re.compile(r"(?<![а-яё])[ьъы]|[бвгджзйклмнпрстфхцчшщ]{4}")
_NOT_HEADER_LETTERS = re.compile(r"[\W\d_]+")


@dataclass
class BookRow:
    """A person of the phone book. `line`: the file's line (CSV), the sheet's row
    (.xlsx) or the table's row (.docx), counted from 1."""

    line: int
    full_name: str
    phones: list[str]
    room: str | None


@dataclass
class BadRow:
    """A row that could not be read, and why; counted like BookRow.line."""

    line: int
    reason: str


class PhonebookError(ValueError):
    """The file cannot be read as a phone book at all (no header, unknown format)."""


Table = list[tuple[int, list[str] | None]]  # (line, cells); None: the line is unreadable


def read_phonebook(path: Path, columns: dict[str, str]) -> tuple[list[BookRow], list[BadRow]]:
    """The rows of a phone book, and the rows that could not be read. `columns` maps our
    field (full_name, phone, room) to its header name; unnamed fields are found by the
    usual Russian and English header names."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return _read_tables([_csv_table(decode_text(path.read_bytes()))], columns)
    if suffix in (".xlsx", ".xlsm"):
        return _read_tables(_xlsx_tables(path), columns)
    if suffix == ".docx":
        return _read_tables(_docx_tables(path), columns)
    raise PhonebookError(f"{path.name}: not a phone book format (.csv, .xlsx or .docx)")


# --- text files -------------------------------------------------------------------------------
def decode_text(data: bytes) -> str:
    """The text of a file in UTF-8 (with or without BOM), UTF-16 with BOM, cp1251,
    KOI8-R or cp866: a single-byte encoding is chosen by how Russian the text reads."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):  # fmt: skip
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    sample = data[:65536]
    best = max(ENCODINGS, key=lambda encoding: russian_score(sample.decode(encoding, "replace")))
    return data.decode(best, errors="replace")


def russian_score(text: str) -> float:
    """Higher for text that reads like Russian: frequent letters, words cased like words
    (not "иВАНОВ") and spelled like words (not "ЫСЙХМ"), no pseudographics."""
    score = 0.0
    for char in text:
        if char.isascii():
            continue
        frequency = _LETTER_FREQUENCY.get(char.lower())
        score += math.log(frequency) if frequency else -8.0
    unlike = len(_MISCASED.findall(text)) + len(_UNSPELLABLE.findall(text.lower()))
    return score - 20.0 * unlike


def _records(text: str) -> Iterator[tuple[int, str | None]]:
    """(first line, record text) for each CSV record; a quoted cell may span lines, but a
    quote left open for MAX_RECORD_LINES lines gives None and reading goes on after it."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    index = 0
    while index < len(lines):
        start, record = index, lines[index]
        index += 1
        while record.count('"') % 2 and index < len(lines) and index - start < MAX_RECORD_LINES:
            record += "\n" + lines[index]
            index += 1
        if record.count('"') % 2:
            yield start + 1, None
            index = start + 1
        else:
            yield start + 1, record


def _split(record: str, delimiter: str) -> list[str] | None:
    """The cells of one record; None if the csv module cannot read it (a NUL byte)."""
    *lines, last = record.split("\n")
    try:
        return next(csv.reader([*(x + "\n" for x in lines), last], delimiter=delimiter), [])
    except csv.Error:
        return None


def detect_delimiter(records: Sequence[str]) -> str:
    """The delimiter that cuts the most records into the same number (≥ 2) of fields."""

    def fit(delimiter: str) -> tuple[int, int]:
        widths = Counter(len(_split(r, delimiter) or ()) for r in records if r.strip())
        width, count = max(widths.items(), key=lambda item: (item[1], item[0]), default=(1, 0))
        return (count, width) if width > 1 else (0, 0)

    return max(DELIMITERS, key=lambda d: (fit(d), -DELIMITERS.index(d)))


def _csv_table(text: str) -> Table:
    records = list(_records(text))
    delimiter = detect_delimiter([r for _, r in records[:50] if r is not None])
    return [(line, None if r is None else _split(r, delimiter)) for line, r in records]


# --- spreadsheets and documents ---------------------------------------------------------------
def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone typed as a number: 84951234567.0
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _xlsx_tables(path: Path) -> Iterator[Table]:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for sheet in book.worksheets:
            rows = sheet.iter_rows(min_row=1, values_only=True)
            yield [(line, [_cell_text(v) for v in row]) for line, row in enumerate(rows, 1)]
    finally:
        book.close()


def _docx_tables(path: Path) -> Iterator[Table]:
    for table in docx.Document(str(path)).tables:
        yield [(line, [cell.text for cell in row.cells]) for line, row in enumerate(table.rows, 1)]


# --- the header and the rows ------------------------------------------------------------------
@dataclass(frozen=True)
class _Layout:
    header_line: int
    width: int
    name: int
    phones: tuple[int, ...]
    room: int | None


def header_key(text: str) -> str:
    """A header cell compared by its letters only: "Ф.И.О." and "фио" are one header."""
    return _NOT_HEADER_LETTERS.sub("", text.lower().replace("ё", "е"))


def _matching(keys: list[str], field: str, columns: dict[str, str]) -> list[int]:
    """The columns holding `field`: the configured header if present, else the defaults."""
    configured = header_key(columns.get(field, ""))
    if configured and configured in keys:
        return [keys.index(configured)]
    names, prefixes = DEFAULT_HEADERS[field]
    return [i for i, k in enumerate(keys) if k and (k in names or k.startswith(prefixes))]


def _find_layout(table: Table, columns: dict[str, str]) -> _Layout | None:
    for line, cells in table[:HEADER_SEARCH_ROWS]:
        if cells is None:
            continue
        keys = [header_key(c) for c in cells]
        names = _matching(keys, "full_name", columns)
        phones = [i for i in _matching(keys, "phone", columns) if i not in names]
        rooms = [i for i in _matching(keys, "room", columns) if i not in names + phones]
        if names and (phones or rooms):
            width = max(i for i, c in enumerate(cells) if c.strip()) + 1
            return _Layout(line, width, names[0], tuple(phones), rooms[0] if rooms else None)
    return None


def _read_tables(
    tables: Iterable[Table], columns: dict[str, str]
) -> tuple[list[BookRow], list[BadRow]]:
    for table in tables:
        layout = _find_layout(table, columns)
        if layout is None:
            continue
        rows: list[BookRow] = []
        bad: list[BadRow] = []
        for line, cells in table:
            if line > layout.header_line:
                row = _book_row(line, cells, layout)
                if isinstance(row, BookRow):
                    rows.append(row)
                elif row is not None:
                    bad.append(row)
        return rows, bad
    wanted = ", ".join(sorted(DEFAULT_HEADERS["full_name"][0])[:6])
    raise PhonebookError(
        f"no header with a full-name column ({columns.get('full_name') or wanted}) and a "
        f"phone or room column in the first {HEADER_SEARCH_ROWS} rows"
    )


def _book_row(line: int, raw: list[str] | None, layout: _Layout) -> BookRow | BadRow | None:
    """The row as read; a BadRow when it cannot be; None for a blank line or a heading
    (a department's name across the table, or alone in the name column)."""
    if raw is None:
        return BadRow(line, "unreadable: a quote left open, or a control character")
    raw = raw + [""] * (layout.width - len(raw))
    cells = [" ".join(c.split()) for c in raw]
    filled = [i for i, c in enumerate(cells) if c]
    if not filled:
        return None
    if filled[-1] >= layout.width:
        return BadRow(line, f"{filled[-1] + 1} fields where the header has {layout.width}")
    name = cells[layout.name]
    phones = [" ".join(p.split())[:PHONE_MAX] for i in layout.phones for p in split_phones(raw[i])]
    room = cells[layout.room][:ROOM_MAX] if layout.room is not None else ""
    across = len(filled) > 1 and len({cells[i] for i in filled}) == 1
    if not phones and (across or filled == [layout.name]):
        return None  # a heading
    if not any(c.isalpha() for c in name):
        return BadRow(line, "no name")
    if len(name) > NAME_MAX:
        return BadRow(line, f"a name longer than {NAME_MAX} characters")
    return BookRow(line, name, phones, room or None)
