"""Merging the phone book into the customer base on generated data with known truth: the
precision and recall of automatic merges against quality.md's targets, homonyms never
merged by themselves, re-runs that change nothing, the review list and its decisions,
dry runs, and the matching rules one by one."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from phonebook_data import Dataset, Entry, make_dataset, write_csv, write_docx, write_xlsx
from sqlalchemy import func, select

from importers.merge import (
    PHONEBOOK,
    ReviewError,
    import_phonebook,
    open_reviews,
    resolve_review,
)
from importers.names import Outcome, match_rows, name_key
from importers.phones import parse_phone
from storage import migrate
from storage.customers import save_search_data, set_name
from storage.db import Sessions, make_engine, make_sessions
from storage.models import Customer, CustomerPhone, CustomerWord, MergeReview

PEOPLE, ROWS, HOMONYM_PAIRS, SEED = 2000, 1200, 10, 1  # the original: ~2,000 + ~1,200
PRECISION, RECALL = 0.995, 0.98  # quality.md
NOW = datetime(2026, 11, 25, 9, 0)
TABLES = (Customer, CustomerPhone, CustomerWord, MergeReview)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return make_dataset(PEOPLE, ROWS, homonym_pairs=HOMONYM_PAIRS, seed=SEED)


async def _seed(url: str, dataset: Dataset) -> None:
    """The directory as the LDAP import leaves it, written through storage/customers.py."""
    engine = make_engine(url)
    await migrate.upgrade(engine)
    async with make_sessions(engine)() as session, session.begin():
        customers = []
        for person in dataset.people:
            customer = Customer(id=person.id, login=person.login, source="ldap", active=True)
            set_name(customer, person.full_name)
            customers.append(customer)
        session.add_all(customers)
        await session.flush()
        for customer, person in zip(customers, dataset.people, strict=True):
            await save_search_data(session, customer, person.phones)
    await engine.dispose()


@pytest.fixture(scope="module")
def directory_db(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file holding the directory; each test works on a copy."""
    path = tmp_path_factory.mktemp("directory") / "directory.db"
    asyncio.run(_seed(f"sqlite+aiosqlite:///{path}", dataset))
    return path


@pytest.fixture
async def sessions(directory_db: Path, tmp_path: Path) -> AsyncIterator[Sessions]:
    path = tmp_path / "helpdesk.db"
    shutil.copy(directory_db, path)
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    yield make_sessions(engine)
    await engine.dispose()


@pytest.fixture
def book(dataset: Dataset, tmp_path: Path) -> Path:
    """The phone book as it usually comes: cp1251, `;`, quoted."""
    path = tmp_path / "book.csv"
    write_csv(path, dataset.entries)
    return path


# --- measuring against the truth --------------------------------------------------------------
@dataclass
class Outcomes:
    """Where each phone-book row went, found by its unique extension (its first phone)."""

    merged: dict[int, int | None]  # row index -> directory person id, or None (own customer)
    reviewed: set[int]  # row indexes on the review list


async def outcomes(sessions: Sessions, rows: list[Entry]) -> Outcomes:
    async with sessions() as session:
        found = await session.execute(
            select(CustomerPhone.digits, Customer.login)
            .join(Customer, Customer.id == CustomerPhone.customer_id)
        )  # fmt: skip
        owner = {digits: login for digits, login in found}
        phones = set(await session.scalars(select(MergeReview.phone)))
    reviewed_ext = {p.split(",")[0] for p in phones if p}
    merged: dict[int, int | None] = {}
    for i, row in enumerate(rows):
        if row.phones[0] in owner:
            login = owner[row.phones[0]]
            merged[i] = int(login[1:]) if login else None
    reviewed = {i for i, row in enumerate(rows) if row.phones[0] in reviewed_ext}
    return Outcomes(merged, reviewed)


def homonym_people(dataset: Dataset) -> set[int]:
    return {p.id for p in dataset.people if name_key(p.full_name) in dataset.homonyms}


def precision_and_recall(
    dataset: Dataset, merged_to: Callable[[int], int | None]
) -> tuple[float, float]:
    """Precision: of the rows merged into a directory person, the share merged into the
    right one (rows of people the directory lacks count as wrong if merged).
    Recall: of the rows that belong to a directory person, the share merged into that
    person. Rows of homonyms are left out of recall only because the spec forbids
    merging them automatically (they must go to review, asserted separately); every
    other row of a directory person counts, the ones held back for review included."""
    rows = dataset.rows()
    twins = homonym_people(dataset)
    merged = [(row, merged_to(i)) for i, row in enumerate(rows) if merged_to(i) is not None]
    right = sum(1 for row, person in merged if person == row.person)
    belong = [i for i, row in enumerate(rows) if row.person is not None and row.person not in twins]
    found = sum(1 for i in belong if merged_to(i) == rows[i].person)
    return right / len(merged), found / len(belong)


# --- the quality targets ----------------------------------------------------------------------
def test_matching_reaches_the_quality_targets(dataset: Dataset) -> None:
    rows = dataset.rows()
    decisions = match_rows([(p.id, p.full_name) for p in dataset.people],
                           [r.full_name for r in rows])  # fmt: skip

    def merged_to(i: int) -> int | None:
        d = decisions[i]
        return d.candidates[0] if d.outcome is Outcome.MATCH else None

    precision, recall = precision_and_recall(dataset, merged_to)
    assert precision >= PRECISION
    assert recall >= RECALL
    twins = homonym_people(dataset)
    for row, decision in zip(rows, decisions, strict=True):
        if row.person in twins:
            assert decision.outcome is Outcome.AMBIGUOUS, row


async def test_import_reaches_the_quality_targets(
    sessions: Sessions, dataset: Dataset, book: Path
) -> None:
    counts = await import_phonebook(sessions, book, {}, now=NOW)
    rows = dataset.rows()
    found = await outcomes(sessions, rows)
    precision, recall = precision_and_recall(dataset, lambda i: found.merged.get(i))
    assert precision >= PRECISION
    assert recall >= RECALL
    twins = homonym_people(dataset)
    twin_rows = {i for i, row in enumerate(rows) if row.person in twins}
    assert twin_rows  # the data has homonyms, and not one of them was merged
    assert not twin_rows & found.merged.keys()
    assert twin_rows <= found.reviewed
    total = counts.matched + counts.new + counts.ambiguous + counts.unchanged
    assert total == len(rows)
    assert counts.bad == len([e for e in dataset.entries if e.kind == "bad"])
    assert counts.ambiguous == len(found.reviewed) == len(await open_reviews(sessions))
    outsiders = [i for i, row in enumerate(rows) if row.person is None]
    assert sum(1 for i in outsiders if found.merged.get(i, 0) is None) >= 0.95 * len(outsiders)


async def test_the_directory_phones_are_kept_and_not_doubled(
    sessions: Sessions, dataset: Dataset, book: Path
) -> None:
    await import_phonebook(sessions, book, {}, now=NOW)
    people = {p.id: p for p in dataset.people}

    def digits(raw: str) -> str:
        phone = parse_phone(raw)
        assert phone is not None
        return phone.digits

    # rows carrying the directory's own number, typed another way ("8 (495) ...")
    retyped = [r for r in dataset.rows() if r.person and people[r.person].phones and
               digits(r.phones[-1]) == digits(people[r.person].phones[0])]  # fmt: skip
    assert retyped
    merged = 0
    async with sessions() as session:
        for row in retyped:
            assert row.person is not None
            saved = list(await session.scalars(
                select(CustomerPhone.digits).where(CustomerPhone.customer_id == row.person)
            ))  # fmt: skip
            assert digits(people[row.person].phones[0]) in saved  # the directory's, kept
            if row.phones[0] in saved:  # merged: the extension added, the city number once
                assert len(saved) == 2, (row, saved)
                merged += 1
    assert merged >= 0.9 * len(retyped)


# --- idempotence and dry runs -----------------------------------------------------------------
async def snapshot(sessions: Sessions) -> dict[str, object]:
    async with sessions() as session:
        shot: dict[str, object] = {}
        for table in TABLES:
            shot[table.__tablename__] = await session.scalar(
                select(func.count()).select_from(table)
            )
        result = await session.execute(
            select(Customer.id, Customer.phones, Customer.room, Customer.updated_at)
        )
        shot["customers"] = [tuple(row) for row in result]
        return shot


async def test_a_second_run_changes_nothing(
    sessions: Sessions, dataset: Dataset, book: Path
) -> None:
    first = await import_phonebook(sessions, book, {}, now=NOW)
    assert first.matched and first.new and first.ambiguous
    before = await snapshot(sessions)
    again = await import_phonebook(sessions, book, {}, now=datetime(2026, 11, 26))
    assert (again.matched, again.new, again.ambiguous) == (0, 0, 0)
    assert again.unchanged == len(dataset.rows())
    assert again.bad == first.bad
    assert await snapshot(sessions) == before


async def test_a_dry_run_writes_nothing_and_counts_the_same(sessions: Sessions, book: Path) -> None:
    before = await snapshot(sessions)
    dry = await import_phonebook(sessions, book, {}, dry_run=True, now=NOW)
    assert await snapshot(sessions) == before
    real = await import_phonebook(sessions, book, {}, now=NOW)
    assert dry == real


@pytest.mark.parametrize("kind", ["xlsx", "docx"])
async def test_xlsx_and_docx_merge_like_the_csv(
    kind: str, sessions: Sessions, dataset: Dataset, book: Path, tmp_path: Path
) -> None:
    other = tmp_path / f"book.{kind}"
    (write_xlsx if kind == "xlsx" else write_docx)(other, dataset.entries)
    from_csv = await import_phonebook(sessions, book, {}, dry_run=True, now=NOW)
    from_other = await import_phonebook(sessions, other, {}, dry_run=True, now=NOW)
    assert from_other.matched == from_csv.matched
    assert (from_other.new, from_other.ambiguous, from_other.bad) == (
        from_csv.new, from_csv.ambiguous, from_csv.bad)  # fmt: skip


# --- the review list --------------------------------------------------------------------------
async def test_resolving_a_review_by_id_and_as_new(
    sessions: Sessions, dataset: Dataset, book: Path
) -> None:
    await import_phonebook(sessions, book, {}, now=NOW)
    reviews = await open_reviews(sessions)
    rows = {r.phones[0]: r for r in dataset.rows()}
    first, second = reviews[0], reviews[1]
    truth = rows[(first.phone or "").split(",")[0]].person or 1
    said = await resolve_review(sessions, first.id, str(truth), now=NOW)
    assert said.startswith(f"review {first.id} (line {first.line}")
    assert f"#{truth}" in said
    async with sessions() as session:
        digits = set(await session.scalars(
            select(CustomerPhone.digits).where(CustomerPhone.customer_id == truth)))  # fmt: skip
        done = await session.get(MergeReview, first.id)
    assert (first.phone or "").split(",")[0] in digits
    assert done is not None and (done.status, done.customer_id) == ("resolved", truth)

    said = await resolve_review(sessions, second.id, "new", now=NOW)
    assert "a new customer" in said
    async with sessions() as session:
        made = await session.scalar(
            select(Customer).join(CustomerPhone)
            .where(CustomerPhone.digits == (second.phone or "").split(",")[0])
        )  # fmt: skip
    assert made is not None and made.source == PHONEBOOK and made.login is None
    assert name_key(made.full_name) == second.name_key

    # the decisions hold on the next run: nothing new, nothing asked again
    before = await snapshot(sessions)
    again = await import_phonebook(sessions, book, {}, now=NOW)
    assert (again.matched, again.new, again.ambiguous) == (0, 0, 0)
    assert await snapshot(sessions) == before
    assert [r.id for r in await open_reviews(sessions)] == [r.id for r in reviews[2:]]


async def test_review_errors_are_one_line(sessions: Sessions, book: Path) -> None:
    await import_phonebook(sessions, book, {}, now=NOW)
    review = (await open_reviews(sessions))[0]
    with pytest.raises(ReviewError, match="review 99999 not found"):
        await resolve_review(sessions, 99999, "new")
    with pytest.raises(ReviewError, match="customer id or 'new'"):
        await resolve_review(sessions, review.id, "somebody")
    with pytest.raises(ReviewError, match="customer 99999 not found"):
        await resolve_review(sessions, review.id, "99999")
    other = int(review.candidates.split(",")[0])
    await resolve_review(sessions, review.id, f"#{other}")
    with pytest.raises(ReviewError, match="already resolved"):
        await resolve_review(sessions, review.id, "new")


# --- the rules one by one ---------------------------------------------------------------------
DIRECTORY = [
    (1, "Иванов Иван Петрович"),
    (2, "Иванов Иван Сергеевич"),
    (3, "Петров-Водкин Кузьма Сергеевич"),
    (4, "Королёв Сергей Павлович"),
    (5, "Смирнова Анна Ивановна"),
    (6, "Смирнова Анна Ивановна"),  # a homonym
    (7, "Кузнецов Виталий"),  # the directory without the patronymic
    (8, "Ким Евгений Сергеевич"),
    (9, "Александрова Екатерина Дмитриевна"),
]


@pytest.mark.parametrize(
    ("written", "outcome", "who"),
    [
        ("Иванов Иван Петрович", "match", (1,)),
        ("  ИВАНОВ   иван петрович. ", "match", (1,)),
        ("Иван Петрович Иванов", "match", (1,)),
        ("Иванов И.П.", "match", (1,)),
        ("И. П. Иванов", "match", (1,)),
        ("Иванов ИП", "match", (1,)),
        ("Иванов И.", "ambiguous", (1, 2)),  # two Ivan Ivanovs: a person decides
        ("Иван Иванов", "ambiguous", (1, 2)),
        ("Иванов Пётр Иванович", "none", ()),  # a different person
        ("Петров Водкин Кузьма Сергеевич", "match", (3,)),
        ("Петров-Водкин К.С.", "match", (3,)),
        ("Кузьма Петров-Водкин", "match", (3,)),
        ("Королев Сергей Павлович", "match", (4,)),
        ("Королёв С.П.", "match", (4,)),
        ("Korolev Sergei", "none", ()),
        ("Смирнова Анна Ивановна", "ambiguous", (5, 6)),  # homonyms never merge
        ("Смирнова А.И.", "ambiguous", (5, 6)),
        ("Смирновa Анна Ивановнa", "ambiguous", (5, 6)),  # Latin a's
        ("Кузнецов Виталий Андреевич", "match", (7,)),
        ("Кузнецов Виталий", "match", (7,)),
        ("Ким Евгения Сергеевна", "none", ()),  # not Евгений: a woman
        ("Ким Евгения", "ambiguous", (8,)),  # one letter off in a short name: ask
        ("Александрова Екатерниа Дмитриевна", "match", (9,)),  # a typo
        ("Алексанрова Екатерина Дмитриевна", "match", (9,)),
        ("Екатерниа Александрова", "ambiguous", (9,)),  # a typo and only one word to back it
        ("Александров Екатерина Дмитриевна", "match", (9,)),  # one letter missing
        ("Александрова", "none", ()),
    ],
)
def test_matching_rules(written: str, outcome: str, who: tuple[int, ...]) -> None:
    (decision,) = match_rows(DIRECTORY, [written])
    assert (decision.outcome.value, decision.candidates) == (outcome, who)
