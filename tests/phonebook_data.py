"""Generated directories and phone books with known ground truth, for the merge tests and
the benchmarks: Russian names (male and female forms, ё, hyphenated surnames), a set
number of homonym pairs, and a phone book written the way people write one (word order,
initials, ё as е, case, stray spaces and punctuation, a few typos, rows without a name,
people the directory does not know), in every file format the importer reads."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docx
import openpyxl

from importers.names import name_key


def _words(text: str) -> list[str]:
    return text.split()


# (male name, its patronymic for a son, for a daughter), female names
MALE = [
    ("Александр", "Александрович", "Александровна"), ("Алексей", "Алексеевич", "Алексеевна"),
    ("Андрей", "Андреевич", "Андреевна"), ("Антон", "Антонович", "Антоновна"),
    ("Артём", "Артёмович", "Артёмовна"), ("Борис", "Борисович", "Борисовна"),
    ("Вадим", "Вадимович", "Вадимовна"), ("Валерий", "Валерьевич", "Валерьевна"),
    ("Василий", "Васильевич", "Васильевна"), ("Виктор", "Викторович", "Викторовна"),
    ("Виталий", "Витальевич", "Витальевна"), ("Владимир", "Владимирович", "Владимировна"),
    ("Вячеслав", "Вячеславович", "Вячеславовна"), ("Геннадий", "Геннадьевич", "Геннадьевна"),
    ("Георгий", "Георгиевич", "Георгиевна"), ("Григорий", "Григорьевич", "Григорьевна"),
    ("Денис", "Денисович", "Денисовна"), ("Дмитрий", "Дмитриевич", "Дмитриевна"),
    ("Евгений", "Евгеньевич", "Евгеньевна"), ("Егор", "Егорович", "Егоровна"),
    ("Иван", "Иванович", "Ивановна"), ("Игорь", "Игоревич", "Игоревна"),
    ("Илья", "Ильич", "Ильинична"), ("Кирилл", "Кириллович", "Кирилловна"),
    ("Константин", "Константинович", "Константиновна"), ("Леонид", "Леонидович", "Леонидовна"),
    ("Максим", "Максимович", "Максимовна"), ("Михаил", "Михайлович", "Михайловна"),
    ("Никита", "Никитич", "Никитична"), ("Николай", "Николаевич", "Николаевна"),
    ("Олег", "Олегович", "Олеговна"), ("Павел", "Павлович", "Павловна"),
    ("Пётр", "Петрович", "Петровна"), ("Роман", "Романович", "Романовна"),
    ("Семён", "Семёнович", "Семёновна"), ("Сергей", "Сергеевич", "Сергеевна"),
    ("Станислав", "Станиславович", "Станиславовна"), ("Степан", "Степанович", "Степановна"),
    ("Тимофей", "Тимофеевич", "Тимофеевна"), ("Фёдор", "Фёдорович", "Фёдоровна"),
    ("Юрий", "Юрьевич", "Юрьевна"), ("Ярослав", "Ярославович", "Ярославовна"),
]  # fmt: skip
FEMALE = [
    "Александра", "Алина", "Алёна", "Алла", "Анастасия", "Анна", "Валентина", "Вера",
    "Виктория", "Галина", "Дарья", "Евгения", "Екатерина", "Елена", "Елизавета", "Жанна",
    "Зоя", "Инна", "Ирина", "Карина", "Кристина", "Ксения", "Лариса", "Любовь", "Людмила",
    "Маргарита", "Марина", "Мария", "Надежда", "Наталья", "Нина", "Оксана", "Ольга",
    "Полина", "Светлана", "София", "Софья", "Тамара", "Татьяна", "Ульяна", "Юлия", "Яна",
]  # fmt: skip
# common surnames, most common first (they are drawn with Zipf weights), male forms
COMMON_SURNAMES = _words("""Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков
Фёдоров Морозов Волков Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев
Орлов Андреев Макаров Никитин Захаров Зайцев Соловьёв Борисов Яковлев Григорьев Романов
Воробьёв Сергеев Кузьмин Фролов Александров Дмитриев Королёв Гусев Киселёв Ильин Максимов
Поляков Сорокин Виноградов Ковалёв Белов Медведев Антонов Тарасов Жуков Баранов Филиппов
Комаров Давыдов Беляев Герасимов Богданов Осипов Сидоров Матвеев Титов Марков Миронов
Крылов Куликов Карпов Власов Мельников Денисов Гаврилов Тихонов Казаков Афанасьев Данилов
Савельев Тимофеев Фомин Чернов Абрамов Мартынов Ефимов Федотов Щербаков Назаров Калинин
Исаев Чернышёв Быков Маслов Родионов Коновалов Лазарев Воронин Климов Филатов Пономарёв
Голубев Кудрявцев Прохоров Наумов Потапов Журавлёв Овчинников Трофимов Леонов Соболев
Ермаков Колесников Гончаров Емельянов Никифоров Грачёв Котов Гришин Ефремов Архипов Громов
Кириллов Малышев Панов Моисеев Румянцев Акимов Кондратьев Бирюков Горбунов Анисимов
Ерёмин Тихомиров Галкин Лукьянов Михеев Скворцов Юдин Белоусов Нестеров Симонов Прокофьев
Харитонов Князев Цветков Левин Митрофанов Воронцов Пугачёв Горшков Шестаков Блинов Суханов
Шевченко Бондаренко Ткаченко Кравченко Коваленко Ким Черных Белых Толстой Островский
Жуковский Вишневский Ковальский Высоцкий Луговской Крутой""")
# the long tail: surnames the common list lacks, made of a root and an ending
ROOTS = _words("""Бел Бор Вас Вер Вол Гал Гор Гус Дан Дер Ель Жар Зар Зим Кал Кам Кар Кир Кол Кор
Кос Крас Лав Лап Лис Лом Луг Мал Мар Мих Мол Мор Над Нес Ник Нос Оз Ор Пав Пал Пес Пух Раз
Рог Род Рож Руд Рус Сав Сад Сер Сил Сит Сок Сом Стар Суд Сух Тар Тем Тих Тол Топ Тур Тюр
Фил Фок Хар Хол Цар Чар Чер Чуд Шаб Шар Шел Шиш Шум Щук Юр Яв Ял Яр""")
TAIL_ENDINGS = ["ов", "ев", "ин", "ишин", "унов", "аков", "енков", "ский", "овский", "ченко"]
HYPHEN_SECOND = ["Водкин", "Щедрин", "Корсаков", "Тяншанский", "Ступинский", "Лебедев"]
DEPARTMENTS = ["Бухгалтерия", "Отдел кадров", "ИТ-отдел", "Склад", "Юридический отдел"]
HEADERS = ("ФИО", "Телефон", "Кабинет")


def female_surname(male: str) -> str:
    for ending, female in (("ский", "ская"), ("цкий", "цкая"), ("ской", "ская"),
                           ("ой", "ая"), ("ов", "ова"), ("ев", "ева"), ("ёв", "ёва"),
                           ("ин", "ина"), ("ын", "ына")):  # fmt: skip
        if male.endswith(ending):
            return male[: -len(ending)] + female
    return male  # Шевченко, Ким, Черных: one form for both


@dataclass
class Person:
    """A directory person; `id` is its place in the directory, from 1. `full_name` is
    as the directory shows it (a few without the patronymic), `true_name` in full."""

    id: int
    login: str
    full_name: str
    phones: list[str]
    true_name: str


@dataclass
class Entry:
    """A phone-book row with its truth: whose it is (a Person id), or nobody's.
    kind: person (in the directory) | outsider | bad (no name, or too many fields) |
    heading (a department's name alone, skipped by the reader)."""

    full_name: str
    phones: list[str]
    room: str | None
    person: int | None = None
    kind: str = "person"
    extra_field: bool = False  # a bad row with one field too many


@dataclass
class Dataset:
    people: list[Person]
    entries: list[Entry]
    homonyms: set[str] = field(default_factory=set)  # name keys two or more people share

    def rows(self) -> list[Entry]:
        """The entries the reader returns as rows (not bad, not headings)."""
        return [e for e in self.entries if e.kind in ("person", "outsider")]


class _Names:
    """Draws unique Russian names: Zipf-weighted common surnames and a long tail."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        tail = [root + ending for root in ROOTS for ending in TAIL_ENDINGS]
        self.surnames = COMMON_SURNAMES + tail
        # about as in Russia: the commonest surname ~1.5% of people, the list ~35%
        common = [1.0 / (rank + 1) ** 0.5 for rank in range(len(COMMON_SURNAMES))]
        self.weights = common + [sum(common) * 65 / 35 / len(tail)] * len(tail)
        self.used: set[str] = set()

    def draw(self) -> str:
        while True:
            name = self._one()
            if name_key(name) not in self.used:
                self.used.add(name_key(name))
                return name

    def _one(self) -> str:
        rng = self.rng
        surname = rng.choices(self.surnames, self.weights)[0]
        if rng.random() < 0.02:
            surname += "-" + rng.choice(HYPHEN_SECOND)
        father = rng.choice(MALE)
        if rng.random() < 0.5:
            first, patronymic = rng.choice(MALE)[0], father[1]
        else:
            surname = "-".join(female_surname(p) for p in surname.split("-"))
            first, patronymic = rng.choice(FEMALE), father[2]
        return f"{surname} {first} {patronymic}"


def make_dataset(people: int, rows: int, *, homonym_pairs: int = 10, seed: int = 1) -> Dataset:
    """`people` directory people (with `homonym_pairs` pairs sharing a full name) and a
    phone book of `rows` rows: about 85% of them directory people, 14% people the
    directory does not know, 1% bad; and a few department headings."""
    rng = random.Random(seed)
    names = _Names(rng)
    full = [names.draw() for _ in range(people - homonym_pairs)]
    twins = set(rng.sample(range(len(full)), homonym_pairs))
    shown = [_shown(name, names, rng) if i not in twins else name for i, name in enumerate(full)]
    full += [full[i] for i in sorted(twins)]
    shown += [full[i] for i in sorted(twins)]
    directory = [
        Person(i, f"u{i:06d}", name, [city_phone(i)] if rng.random() < 0.3 else [], true)
        for i, (name, true) in enumerate(zip(shown, full, strict=True), 1)
    ]
    homonyms = {name_key(full[i]) for i in twins}
    entries = _entries(directory, homonyms, rows, names, rng)
    return Dataset(directory, entries, homonyms)


def _shown(full_name: str, names: _Names, rng: random.Random) -> str:
    """Some directories say "Фамилия Имя", without the patronymic."""
    short = " ".join(full_name.split()[:2])
    if rng.random() < 0.05 and name_key(short) not in names.used:
        names.used.add(name_key(short))
        return short
    return full_name


def city_phone(n: int) -> str:
    """A Moscow number, one for each n below 10,000,000."""
    return f"+7 495 {n // 10000 % 1000:03d}-{n // 100 % 100:02d}-{n % 100:02d}"


def _entries(
    directory: list[Person], homonyms: set[str], rows: int, names: _Names, rng: random.Random
) -> list[Entry]:
    bad = max(2, rows // 100)
    outsiders = rows * 14 // 100
    known = rows - bad - outsiders
    twins = [p for p in directory if name_key(p.full_name) in homonyms]
    others = [p for p in directory if name_key(p.full_name) not in homonyms]
    chosen = twins[:known] + rng.sample(others, known - min(known, len(twins)))
    entries = [_entry(p.true_name, p.id, i, rng, p) for i, p in enumerate(chosen)]
    start = len(entries)
    entries += [_entry(names.draw(), None, start + i, rng) for i in range(outsiders)]
    for i in range(bad):
        entries.append(Entry("" if i % 2 == 0 else f"Лишний {i}", [str(90000 + i)], "1",
                             kind="bad", extra_field=i % 2 == 1))  # fmt: skip
    rng.shuffle(entries)
    for department in DEPARTMENTS:
        entries.insert(rng.randrange(len(entries)), Entry(department, [], None, kind="heading"))
    return entries


def _entry(true_name: str, person: int | None, n: int, rng: random.Random,
           known: Person | None = None) -> Entry:  # fmt: skip
    phones = [str(10000 + n)]  # a unique extension: tells which customer the row went to
    if known is not None and known.phones and rng.random() < 0.5:
        phones.append(reformat(known.phones[0], rng))  # the directory's number, retyped
    elif rng.random() < 0.2:
        phones.append(city_phone(500000 + n))
    room = rng.choice(
        [f"{rng.randint(1, 9)}{rng.randint(1, 40):02d}", f"к. {rng.randint(100, 999)}"]
    )
    kind = "person" if person is not None else "outsider"
    return Entry(quirky(true_name, rng), phones, room if rng.random() < 0.9 else None, person, kind)


def reformat(phone: str, rng: random.Random) -> str:
    digits = "".join(c for c in phone if c.isdigit())[1:]
    return rng.choice([f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}",
                       f"8{digits}", f"+7{digits}"])  # fmt: skip


# --- the quirks of a real phone book ------------------------------------------------------------
def quirky(full_name: str, rng: random.Random) -> str:
    """The name as somebody typed it into the phone book."""
    words = full_name.split()
    form = rng.choices(_FORMS, [w for _, w in _FORMS_WEIGHTED])[0]
    text = form(words) if len(words) == 3 else " ".join(words)
    if "ё" in text.lower() and rng.random() < 0.6:
        text = text.replace("ё", "е").replace("Ё", "Е")
    if rng.random() < 0.02 and "." not in text:
        text = typo(text, rng)
    return _surface(text, rng)


def _surface(text: str, rng: random.Random) -> str:
    """Case, spaces, punctuation and the odd Latin letter."""
    roll = rng.random()
    if roll < 0.05:
        text = text.upper()
    elif roll < 0.08:
        text = text.lower()
    if rng.random() < 0.05:
        text = text.replace(" ", "  ", 1)
    if rng.random() < 0.04:
        text = text + rng.choice([".", ",", " ;"])
    if rng.random() < 0.03:
        text = " " + text + " "
    if rng.random() < 0.01:
        text = text.replace("о", "o", 1)  # a Latin o
    return text


def _initials(words: Sequence[str]) -> str:
    return "".join(w[0] + "." for w in words)


_FORMS_WEIGHTED: list[tuple[Callable[[list[str]], str], float]] = [
    (lambda w: f"{w[0]} {w[1]} {w[2]}", 60),  # Фамилия Имя Отчество
    (lambda w: f"{w[1]} {w[0]}", 8),  # Имя Фамилия
    (lambda w: f"{w[0]} {w[1]}", 4),  # Фамилия Имя
    (lambda w: f"{w[1]} {w[2]} {w[0]}", 5),  # Имя Отчество Фамилия
    (lambda w: f"{w[0]} {_initials(w[1:])}", 13),  # Иванов И.П.
    (lambda w: f"{_initials(w[1:])} {w[0]}", 5),  # И.П. Иванов
    (lambda w: f"{w[0]} {w[1][0]}. {w[2][0]}.", 3),  # Иванов И. П.
    (lambda w: f"{w[0]} {w[1][0]}.", 2),  # Иванов И.
]
_FORMS = [f for f, _ in _FORMS_WEIGHTED]


def typo(text: str, rng: random.Random) -> str:
    """One slip in one long word: mostly inside it, sometimes at its first or last letter."""
    words = text.split()
    long = [i for i, w in enumerate(words) if len(w) >= 6 and "-" not in w]
    if not long:
        return text
    i = rng.choice(long)
    word = words[i]
    edge = rng.random()
    p = 0 if edge < 0.1 else len(word) - 1 if edge < 0.25 else rng.randrange(1, len(word) - 2)
    slip = "other" if p in (0, len(word) - 1) else rng.choice(["swap", "drop", "double", "other"])
    if slip == "swap":
        word = word[:p] + word[p + 1] + word[p] + word[p + 2 :]
    elif slip == "drop":
        word = word[:p] + word[p + 1 :]
    elif slip == "double":
        word = word[:p] + word[p] + word[p:]
    else:
        letter = rng.choice("аеиоунтсрвлк".replace(word[p].lower(), ""))
        word = word[:p] + (letter.upper() if word[p].isupper() else letter) + word[p + 1 :]
    words[i] = word
    return " ".join(words)


# --- writers --------------------------------------------------------------------------------------
def _cells(entry: Entry) -> list[str]:
    cells = [entry.full_name, ", ".join(entry.phones), entry.room or ""]
    return [*cells, "лишнее поле"] if entry.extra_field else cells


def write_csv(
    path: Path,
    entries: Sequence[Entry],
    *,
    encoding: str = "cp1251",
    delimiter: str = ";",
    headers: Sequence[str] = HEADERS,
    title: bool = True,
    quote_all: bool = True,
) -> list[int]:
    """A CSV as Excel exports it (a title line, the header, the rows); returns each
    entry's line number."""
    lines: list[int] = []
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n",
                            quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)  # fmt: skip
        line = 1
        if title:
            writer.writerow(["Телефонный справочник"] + [""] * (len(headers) - 1))
            line += 1
        writer.writerow(headers)
        for entry in entries:
            line += 1
            lines.append(line)
            writer.writerow(_cells(entry))
    return lines


def write_xlsx(
    path: Path, entries: Sequence[Entry], *, headers: Sequence[str] = HEADERS
) -> list[int]:
    """The sheet itself, a title above the header; extensions stored as numbers."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Телефонный справочник"])
    sheet.append([])
    sheet.append(list(headers))
    lines = []
    for entry in entries:
        cells: list[object] = list(_cells(entry))
        if len(entry.phones) == 1 and entry.phones[0].isdigit():
            cells[1] = int(entry.phones[0])
        sheet.append(cells)
        lines.append(sheet.max_row)
    book.save(path)
    return lines


def write_docx(
    path: Path, entries: Sequence[Entry], *, headers: Sequence[str] = HEADERS
) -> list[int]:
    """The phone book as a Word table; headings are rows merged across the table. A row
    with a field too many cannot exist in a table: it is written without its name."""
    document = docx.Document()
    document.add_paragraph("Телефонный справочник")
    table = document.add_table(rows=1, cols=len(headers))
    for cell, header in zip(table.rows[0].cells, headers, strict=True):
        cell.text = header
    lines = []
    for entry in entries:
        row = table.add_row()
        if entry.kind == "heading":
            merged = row.cells[0].merge(row.cells[-1])
            merged.text = entry.full_name
        else:
            cells = _cells(entry)[: len(headers)]
            if entry.extra_field:
                cells[0] = ""
            for cell, text in zip(row.cells, cells, strict=True):
                cell.text = text
        lines.append(len(table.rows))
    document.save(str(path))
    return lines
