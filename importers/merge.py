"""Merging the phone book into the customer base by full name, the one field it shares
with the directory: word order, ё/е, case, punctuation, initials and small typos do not
matter, and a name that fits several people is never merged by itself but put on the
review list for a person to decide."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from importers.names import Decision, Outcome, match_rows, name_key, tidy_name
from importers.phonebook import BadRow, BookRow, read_phonebook
from importers.phones import parse_phone, split_phones
from storage.clock import utcnow
from storage.customers import save_search_data_many, set_name
from storage.db import Sessions
from storage.models import Customer, CustomerPhone, MergeReview

PHONEBOOK = "phonebook"  # Customer.source of people only the phone book knows
CHUNK = 500  # ids per IN (...) query


# --- the import -------------------------------------------------------------------------------
@dataclass
class MergeCounts:
    """What an import did, by phone-book row; the five counts add up to the rows read."""

    matched: int = 0  # merged into an existing customer whose phones or room changed
    new: int = 0  # made a customer of their own: nobody in the directory has the name
    ambiguous: int = 0  # put on the review list by this import
    bad: int = 0  # unreadable (no name, a broken line): reported and skipped
    unchanged: int = 0  # already merged, already a customer, or already on the review list
    bad_rows: list[BadRow] = field(default_factory=list)


@dataclass
class _Update:
    """The phone-book data for one customer, from one row or several."""

    phones: list[str] = field(default_factory=list)
    room: str | None = None
    rows: int = 0

    def add(self, row: BookRow) -> None:
        self.phones += [p for p in row.phones if p not in self.phones]
        self.room = self.room or row.room
        self.rows += 1


@dataclass
class _Plan:
    updates: dict[int, _Update] = field(default_factory=lambda: defaultdict(_Update))
    creations: dict[str, tuple[str, _Update]] = field(default_factory=dict)
    reviews: list[MergeReview] = field(default_factory=list)
    waiting: int = 0  # rows already on the review list


class ReviewError(Exception):
    """A review decision that cannot be applied; the message is one line for the user."""


async def import_phonebook(
    sessions: Sessions,
    path: Path,
    columns: dict[str, str],
    *,
    region: str = "RU",
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> MergeCounts:
    """Read the phone book and merge it into the customers; with `dry_run`, count what
    would change and write nothing. Running it again with the same file changes nothing,
    so the writes go in short transactions (the bot keeps working meanwhile): an import
    cut short is finished by running it again."""
    say = progress or (lambda _text: None)
    now = now or utcnow()
    rows, bad = await asyncio.to_thread(read_phonebook, path, columns)
    say(f"{path.name}: {len(rows)} rows read, {len(bad)} bad")
    async with sessions() as session:
        people, keys, own = await _load_people(session)
        reviews = await _load_reviews(session, path.name)
    decisions = await asyncio.to_thread(match_rows, people, [r.full_name for r in rows])
    async with sessions() as session:
        decisions = await _break_ties(session, rows, decisions, keys, region)
    say(f"matched against {len(people)} directory people")
    plan = _plan(rows, decisions, own, reviews, path.name, now)
    counts = MergeCounts(ambiguous=len(plan.reviews), bad=len(bad), bad_rows=bad)
    counts.unchanged = plan.waiting
    counts.new = sum(update.rows for _, update in plan.creations.values())
    await _write_plan(sessions, plan, counts, region, now, dry_run=dry_run, say=say)
    return counts


async def _write_plan(
    sessions: Sessions,
    plan: _Plan,
    counts: MergeCounts,
    region: str,
    now: datetime,
    *,
    dry_run: bool,
    say: Callable[[str], None],
) -> None:
    ids = sorted(plan.updates)
    for start in range(0, len(ids), CHUNK):
        async with sessions() as session, session.begin():
            chunk = {i: plan.updates[i] for i in ids[start : start + CHUNK]}
            await _apply_updates(session, chunk, counts, region, now, dry_run=dry_run)
        say(f"customers updated: {min(start + CHUNK, len(ids))} of {len(ids)}")
    if dry_run:
        return
    creations = list(plan.creations.values())
    for start in range(0, len(creations), CHUNK):
        async with sessions() as session, session.begin():
            await _create_all(session, creations[start : start + CHUNK], region, now)
        say(f"customers added: {min(start + CHUNK, len(creations))} of {len(creations)}")
    async with sessions() as session, session.begin():
        session.add_all(plan.reviews)


async def _load_people(
    session: AsyncSession,
) -> tuple[list[tuple[int, str]], dict[int, str], dict[str, int]]:
    """The directory's people as (id, full name) and their name keys, and the
    phone-book-only customers by name key (the oldest one of a key)."""
    result = await session.execute(
        select(Customer.id, Customer.full_name, Customer.source, Customer.name_key)
        .order_by(Customer.id)
    )  # fmt: skip
    people: list[tuple[int, str]] = []
    keys: dict[int, str] = {}
    own: dict[str, int] = {}
    for id_, full_name, source, key in result:
        if source == PHONEBOOK:
            own.setdefault(key, id_)
        else:
            people.append((id_, full_name))
            keys[id_] = key
    return people, keys, own


async def _break_ties(
    session: AsyncSession,
    rows: Sequence[BookRow],
    decisions: list[Decision],
    keys: dict[int, str],
    region: str,
) -> list[Decision]:
    """A row whose name fits several people goes to the one whose own phone it carries,
    if exactly one does; never when two of them share a full name (homonyms always go
    to review). A number on several rows (a shared line) proves nothing."""
    todo = [i for i, d in enumerate(decisions) if d.outcome is Outcome.AMBIGUOUS
            and len({keys.get(c) for c in d.candidates}) == len(d.candidates)]  # fmt: skip
    ids = sorted({c for i in todo for c in decisions[i].candidates})
    phones: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(ids), CHUNK):
        for customer_id, pairs in (await _phones_of(session, ids[start : start + CHUNK])).items():
            phones[customer_id] = {digits for _, digits in pairs}
    carried = [{p.digits for p in map(parse_phone, r.phones, repeat(region)) if p} for r in rows]
    shared = {d for d, n in Counter(d for c in carried for d in c).items() if n > 1}
    decided = list(decisions)
    for i in todo:
        owners = [c for c in decisions[i].candidates if phones[c] & (carried[i] - shared)]
        if len(owners) == 1:
            decided[i] = Decision(Outcome.MATCH, (owners[0],), "phone")
    return decided


async def _load_reviews(session: AsyncSession, source: str) -> dict[str, list[MergeReview]]:
    found = await session.scalars(select(MergeReview).where(MergeReview.source == source))
    by_key: dict[str, list[MergeReview]] = defaultdict(list)
    for review in found:
        by_key[review.name_key].append(review)
    return by_key


def _plan(
    rows: Sequence[BookRow],
    decisions: Sequence[Decision],
    own: dict[str, int],
    reviews: dict[str, list[MergeReview]],
    source: str,
    now: datetime,
) -> _Plan:
    """Where each row goes: onto an existing customer, into a new one, or to review."""
    plan = _Plan()
    for row, decision in zip(rows, decisions, strict=True):
        key = name_key(row.full_name)
        if decision.outcome is Outcome.MATCH:
            plan.updates[decision.candidates[0]].add(row)
        elif decision.outcome is Outcome.AMBIGUOUS:
            _plan_review(plan, row, key, decision, reviews[key], source, now)
        elif key in own:
            plan.updates[own[key]].add(row)
        else:
            plan.creations.setdefault(key, (row.full_name, _Update()))[1].add(row)
    return plan


def _plan_review(
    plan: _Plan,
    row: BookRow,
    key: str,
    decision: Decision,
    known: list[MergeReview],
    source: str,
    now: datetime,
) -> None:
    """A review for the row, unless it has one: open (the row waits) or resolved (the row
    goes where the person decided)."""
    phone = _joined(row.phones, 64) or None
    same = [r for r in known if r.line == row.line or (r.phone, r.room) == (phone, row.room)]
    decided = [r.customer_id for r in same if r.status == "resolved"]
    if decided and decided[-1] is not None:
        plan.updates[decided[-1]].add(row)
    elif same:
        plan.waiting += 1
    else:
        review = MergeReview(
            source=source, line=row.line, full_name=row.full_name[:255], name_key=key[:255],
            phone=phone, room=row.room, status="open", created_at=now,
            candidates=_joined(map(str, decision.candidates), 255),
        )  # fmt: skip
        known.append(review)
        plan.reviews.append(review)


def _joined(items: Iterable[str], limit: int) -> str:
    """Comma-separated, as many whole items as fit in `limit` characters."""
    text = ""
    for item in items:
        longer = f"{text},{item}" if text else item
        if len(longer) > limit:
            break
        text = longer
    return text


async def _apply_updates(
    session: AsyncSession,
    updates: dict[int, _Update],
    counts: MergeCounts,
    region: str,
    now: datetime,
    *,
    dry_run: bool,
) -> None:
    """Add the phone-book phones (the customer's own kept) and room to each customer;
    a customer who has them already is left alone."""
    ids = list(updates)
    customers = await session.scalars(select(Customer).where(Customer.id.in_(ids)))
    phones = await _phones_of(session, ids)
    changes = []
    for customer in customers:
        update = updates.pop(customer.id)
        added = _added_phones(phones[customer.id], update, region)
        if not added and update.room in (None, customer.room):
            counts.unchanged += update.rows
        else:
            counts.matched += update.rows
            known = [raw for raw, _ in phones[customer.id]]
            changes.append((customer, update, known + added if added else None))
    counts.unchanged += sum(u.rows for u in updates.values())  # customers gone meanwhile
    if not dry_run:
        await _write(session, changes, region, now)


async def _phones_of(session: AsyncSession, ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """(raw, digits) of each customer's phones, in the order they were saved."""
    result = await session.execute(
        select(CustomerPhone.customer_id, CustomerPhone.raw, CustomerPhone.digits)
        .where(CustomerPhone.customer_id.in_(ids)).order_by(CustomerPhone.id)
    )  # fmt: skip
    phones: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for customer_id, raw, digits in result:
        phones[customer_id].append((raw, digits))
    return phones


def _added_phones(phones: list[tuple[str, str]], update: _Update, region: str) -> list[str]:
    """The phone book's phones the customer lacks (as (raw, digits) `phones`)."""
    known = {digits for _, digits in phones}
    added: list[str] = []
    for raw in update.phones:
        phone = parse_phone(raw, region)
        if phone is not None and phone.digits not in known:
            known.add(phone.digits)
            added.append(raw)
    return added


async def _write(
    session: AsyncSession,
    changes: Sequence[tuple[Customer, _Update, list[str] | None]],
    region: str,
    now: datetime,
) -> None:
    """Room, and phones with the search data unless None, of each customer: a few
    statements for them all."""
    with session.no_autoflush:
        for customer, update, _ in changes:
            customer.room = update.room or customer.room
            customer.updated_at = now
        items = [(customer, phones) for customer, _, phones in changes if phones is not None]
        if items:
            await save_search_data_many(session, items, region)
    await session.flush()


async def _create_all(
    session: AsyncSession, creations: list[tuple[str, _Update]], region: str, now: datetime
) -> list[Customer]:
    """Customers of the phone book's own, for people the directory does not know."""
    customers = []
    for full_name, _ in creations:
        customer = Customer(source=PHONEBOOK, active=True)
        set_name(customer, tidy_name(full_name) or full_name)
        customers.append(customer)
    session.add_all(customers)
    await session.flush()
    changes: list[tuple[Customer, _Update, list[str] | None]] = [
        (c, u, u.phones) for c, (_, u) in zip(customers, creations, strict=True)
    ]
    await _write(session, changes, region, now)
    return customers


# --- the review list --------------------------------------------------------------------------
async def open_reviews(sessions: Sessions) -> list[MergeReview]:
    """The rows waiting for a decision, oldest first."""
    async with sessions() as session:
        found = await session.scalars(
            select(MergeReview).where(MergeReview.status == "open").order_by(MergeReview.id)
        )
        return list(found)


async def resolve_review(
    sessions: Sessions,
    review_id: int,
    decision: str,
    *,
    region: str = "RU",
    now: datetime | None = None,
) -> str:
    """Apply a person's decision: the row belongs to customer N (any existing customer,
    not only the candidates), or it is somebody `new`. Returns what was done."""
    now = now or utcnow()
    async with sessions() as session, session.begin():
        review = await session.get(MergeReview, review_id)
        if review is None:
            raise ReviewError(f"review {review_id} not found")
        if review.status != "open":
            raise ReviewError(
                f"review {review_id} is already resolved: customer {review.customer_id}"
            )
        update = _Update(split_phones(review.phone or ""), review.room, 1)
        if decision.strip().lower() == "new":
            (customer,) = await _create_all(session, [(review.full_name, update)], region, now)
            done = "a new customer"
        else:
            customer = await _customer(session, decision)
            phones = (await _phones_of(session, [customer.id]))[customer.id]
            added = _added_phones(phones, update, region)
            merged = [raw for raw, _ in phones] + added if added else None
            await _write(session, [(customer, update, merged)], region, now)
            done = "customer"
        review.status, review.customer_id, review.resolved_at = "resolved", customer.id, now
        row = f"review {review_id} (line {review.line}, {review.full_name})"
        return f"{row}: {done} #{customer.id}, {customer.full_name}"


async def _customer(session: AsyncSession, decision: str) -> Customer:
    text = decision.strip().lstrip("#")
    if not text.isdigit():
        raise ReviewError(f"decide with a customer id or 'new', not '{decision}'")
    customer = await session.get(Customer, int(text))
    if customer is None:
        raise ReviewError(f"customer {text} not found")
    return customer
