"""Reading phone books: every encoding, delimiter and format gives the same rows; bad rows
are reported by line and skipped; headers are found in Russian and English, or as the
config names them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import docx
import openpyxl
import pytest
from phonebook_data import Dataset, Entry, make_dataset, write_csv, write_docx, write_xlsx

from importers.phonebook import BookRow, PhonebookError, decode_text, read_phonebook
from importers.phones import split_phones

Writer = Callable[[Path, Dataset], list[int]]

WRITERS: dict[str, tuple[str, Writer]] = {
    "cp1251 ; quoted": ("book.csv", lambda p, d: write_csv(p, d.entries)),
    "utf-8 BOM ,": ("book.csv", lambda p, d: write_csv(
        p, d.entries, encoding="utf-8-sig", delimiter=",", quote_all=False, title=False)),
    "utf-8 ;": ("book.csv", lambda p, d: write_csv(p, d.entries, encoding="utf-8")),
    "koi8-r tab": ("book.csv", lambda p, d: write_csv(
        p, d.entries, encoding="koi8_r", delimiter="\t", quote_all=False)),
    "xlsx": ("book.xlsx", lambda p, d: write_xlsx(p, d.entries)),
    "docx": ("book.docx", lambda p, d: write_docx(p, d.entries)),
}  # fmt: skip


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return make_dataset(300, 200, homonym_pairs=3, seed=7)


def expected(entry: Entry, line: int) -> BookRow:
    """The row the reader should give: spaces collapsed, phones split, as written."""
    phones = split_phones(", ".join(entry.phones))
    return BookRow(line, " ".join(entry.full_name.split()), phones, entry.room)


@pytest.mark.parametrize("kind", list(WRITERS))
def test_every_format_reads_back_the_same_rows(kind: str, dataset: Dataset, tmp_path: Path) -> None:
    name, write = WRITERS[kind]
    path = tmp_path / name
    lines = write(path, dataset)
    rows, bad = read_phonebook(path, {})
    wanted = [expected(e, line) for e, line in zip(dataset.entries, lines, strict=True)
              if e.kind in ("person", "outsider")]  # fmt: skip
    assert rows == wanted
    bad_lines = [line for e, line in zip(dataset.entries, lines, strict=True) if e.kind == "bad"]
    assert [b.line for b in bad] == bad_lines
    assert all(b.reason for b in bad)


def test_bad_rows_say_why(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text(
        "ФИО;Телефон;Кабинет\n"
        "Иванов Иван Иванович;4521;101\n"
        ";4522;102\n"  # no name
        "Петров Пётр;4523;103;лишнее\n"  # a field too many
        "---;4524;104\n"  # no letters in the name
        "\n"  # blank: skipped, not bad
        "Сидоров Сидор;4525;105\n",
        encoding="cp1251",
    )
    rows, bad = read_phonebook(path, {})
    assert [(r.line, r.full_name) for r in rows] == [
        (2, "Иванов Иван Иванович"),
        (7, "Сидоров Сидор"),
    ]
    assert [(b.line, b.reason) for b in bad] == [
        (3, "no name"),
        (4, "4 fields where the header has 3"),
        (5, "no name"),
    ]


def test_an_unclosed_quote_costs_one_row(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    lines = ["ФИО;Телефон;Кабинет", '"Иванов Иван;4521;101']
    lines += [f"Сотрудник Номер{i};{4600 + i};{i}" for i in range(12)]
    path.write_text("\r\n".join(lines), encoding="utf-8")
    rows, bad = read_phonebook(path, {})
    assert [b.line for b in bad] == [2]
    assert [r.line for r in rows] == list(range(3, 15))


def test_quoted_cells_may_hold_delimiters_and_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text(
        'ФИО;Телефон;Кабинет\n"Иванов; Иван";"4521\n4522";"101"\nПетров Пётр;4523;102\n',
        encoding="utf-8",
    )
    rows, bad = read_phonebook(path, {})
    assert bad == []
    assert rows == [
        BookRow(2, "Иванов; Иван", ["4521", "4522"], "101"),
        BookRow(4, "Петров Пётр", ["4523"], "102"),
    ]


@pytest.mark.parametrize(
    "headers",
    [
        ("ФИО", "Телефон", "Кабинет"),
        ("Ф.И.О.", "Тел.", "Комната"),
        ("  сотрудник ", "ТЕЛЕФОН", "Каб."),
        ("Full name", "Phone", "Room"),
        ("Name", "Telephone", "Office"),
        ("Фамилия, имя, отчество", "Внутренний телефон", "Помещение"),
    ],
)
def test_default_headers_in_russian_and_english(
    headers: tuple[str, str, str], tmp_path: Path
) -> None:
    path = tmp_path / "book.csv"
    entries = [Entry("Иванов Иван Иванович", ["4521"], "101")]
    write_csv(path, entries, encoding="utf-8", headers=headers)
    rows, _ = read_phonebook(path, {})
    assert rows == [BookRow(3, "Иванов Иван Иванович", ["4521"], "101")]


def test_columns_from_the_config_win(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text(
        "Отдел;Кто;Телефон городской;Внутр.;Где сидит\n"
        "Бухгалтерия;Иванова Анна;+7 495 123-45-67;4521;301\n",
        encoding="utf-8",
    )
    with pytest.raises(PhonebookError):
        read_phonebook(path, {})  # "Кто" is nobody's default for the name
    columns = {"full_name": "кто", "phone": "Телефон  городской", "room": "ГДЕ СИДИТ"}
    rows, bad = read_phonebook(path, columns)
    assert bad == []
    assert rows == [BookRow(2, "Иванова Анна", ["+7 495 123-45-67"], "301")]
    # without a configured phone column, every phone-like column is read
    rows, _ = read_phonebook(path, {"full_name": "Кто", "room": "Где сидит"})
    assert rows[0].phones == ["+7 495 123-45-67", "4521"]


def test_no_header_is_an_error_saying_what_was_looked_for(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("a;b;c\n1;2;3\n", encoding="utf-8")
    with pytest.raises(PhonebookError, match="full-name column"):
        read_phonebook(path, {})
    with pytest.raises(PhonebookError, match=r"\.csv, \.xlsx or \.docx"):
        read_phonebook(tmp_path / "book.pdf", {})


@pytest.mark.parametrize("encoding", ["cp1251", "koi8_r", "cp866", "utf-8", "utf-8-sig", "utf-16"])
@pytest.mark.parametrize(
    "text",
    [
        "ФИО;Телефон\nИванов Иван Иванович;4521\nЁлкина Алёна;4522\n",
        "ФИО;ТЕЛЕФОН\nИВАНОВ ИВАН ИВАНОВИЧ;4521\nСМИРНОВА ОЛЬГА;4522\n",  # capitals only
        "фио;телефон\nщукин щ.;4521\n",  # short and lower case
    ],
)
def test_encodings_are_told_apart(encoding: str, text: str) -> None:
    assert decode_text(text.encode(encoding)) == text


def test_headings_and_titles_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text(
        "Телефонный справочник;;\n;;\nФИО;Телефон;Кабинет\nБухгалтерия;;\n"
        "Иванова Анна;4521;301\nСклад;;\nПетров Пётр;4522;\n",
        encoding="utf-8",
    )
    rows, bad = read_phonebook(path, {})
    assert bad == []
    assert [(r.line, r.full_name, r.room) for r in rows] == [
        (5, "Иванова Анна", "301"),
        (7, "Петров Пётр", None),
    ]


def test_xlsx_numbers_and_the_sheet_with_the_header(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["Сводка", "без", "телефонов"])  # a first sheet with no phone book
    sheet = book.create_sheet("Справочник")
    sheet.append(["ФИО", "Телефон", "Кабинет"])
    sheet.append(["Иванов Иван", 84951234567, 301])
    sheet.append(["Петров Пётр", 4522.0, "к. 12"])
    book.save(path)
    rows, bad = read_phonebook(path, {})
    assert bad == []
    assert rows == [
        BookRow(2, "Иванов Иван", ["84951234567"], "301"),
        BookRow(3, "Петров Пётр", ["4522"], "к. 12"),
    ]


def test_docx_takes_the_first_table_with_a_header(tmp_path: Path) -> None:
    path = tmp_path / "book.docx"
    document = docx.Document()
    legend = document.add_table(rows=1, cols=2)
    legend.rows[0].cells[0].text = "Условные обозначения"
    table = document.add_table(rows=3, cols=3)
    for row, cells in zip(table.rows, [("Сотрудник", "Тел.", "Каб."),
                                       ("Иванов Иван", "4521, 4522", "301"),
                                       ("", "4523", "302")], strict=True):  # fmt: skip
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    document.save(str(path))
    rows, bad = read_phonebook(path, {})
    assert rows == [BookRow(2, "Иванов Иван", ["4521", "4522"], "301")]
    assert [(b.line, b.reason) for b in bad] == [(3, "no name")]
