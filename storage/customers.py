"""Writing customers with their search data (name words, name key, normalized phones)
kept in step; every importer and the demo go through here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from sqlalchemy import Table, delete
from sqlalchemy.ext.asyncio import AsyncSession

from importers.names import name_key, name_words
from importers.phones import Phone, parse_phone
from storage.models import Customer, CustomerPhone, CustomerWord

CHUNK = 500  # ids per DELETE ... IN (...): well under every driver's parameter limit
WORDS = cast(Table, CustomerWord.__table__)
PHONES = cast(Table, CustomerPhone.__table__)


def set_name(customer: Customer, full_name: str) -> None:
    customer.full_name = " ".join(full_name.split())
    customer.name_key = name_key(full_name)


def _phones(raws: Iterable[str], region: str) -> list[Phone]:
    parsed = [p for p in (parse_phone(raw, region) for raw in raws) if p is not None]
    return list({p.digits: p for p in parsed}.values())


async def save_search_data(
    session: AsyncSession, customer: Customer, phones: Iterable[str], region: str = "RU"
) -> None:
    """Replace the customer's name words and phones (the customer must have an id:
    flush first). `phones` are the raw numbers as the sources write them."""
    await save_search_data_many(session, [(customer, phones)], region)


async def save_search_data_many(
    session: AsyncSession,
    items: Sequence[tuple[Customer, Iterable[str]]],
    region: str = "RU",
) -> None:
    """`save_search_data` for many customers in a few statements: chunked DELETEs and
    executemany INSERTs through Core (no ORM bookkeeping per row), as imports need."""
    words: list[dict[str, object]] = []
    phones: list[dict[str, object]] = []
    for customer, raws in items:
        for word in sorted(set(name_words(customer.full_name))):
            words.append({"customer_id": customer.id, "word": word[:64]})
        parsed = _phones(raws, region)
        for p in parsed:
            phones.append({"customer_id": customer.id, "raw": p.raw[:64],
                           "digits": p.digits[:20], "last7": p.last7})  # fmt: skip
        customer.phones = ", ".join(p.raw for p in parsed)[:255] or None
    ids = [customer.id for customer, _ in items]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        await session.execute(delete(WORDS).where(WORDS.c.customer_id.in_(chunk)))
        await session.execute(delete(PHONES).where(PHONES.c.customer_id.in_(chunk)))
    if words:
        await session.execute(WORDS.insert(), words)
    if phones:
        await session.execute(PHONES.insert(), phones)
