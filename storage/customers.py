"""Writing customers with their search data (name words, name key, normalized phones)
kept in step; every importer and the demo go through here."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from importers.names import name_key, name_words
from importers.phones import parse_phone
from storage.models import Customer, CustomerPhone, CustomerWord


def set_name(customer: Customer, full_name: str) -> None:
    customer.full_name = " ".join(full_name.split())
    customer.name_key = name_key(full_name)


async def save_search_data(
    session: AsyncSession, customer: Customer, phones: Iterable[str], region: str = "RU"
) -> None:
    """Replace the customer's name words and phones (the customer must have an id:
    flush first). `phones` are the raw numbers as the sources write them."""
    await session.execute(delete(CustomerWord).where(CustomerWord.customer_id == customer.id))
    await session.execute(delete(CustomerPhone).where(CustomerPhone.customer_id == customer.id))
    words = sorted(set(name_words(customer.full_name)))
    if words:
        await session.execute(
            insert(CustomerWord), [{"customer_id": customer.id, "word": w[:64]} for w in words]
        )
    parsed = [p for p in (parse_phone(raw, region) for raw in phones) if p is not None]
    unique = {p.digits: p for p in parsed}.values()
    if unique:
        await session.execute(
            insert(CustomerPhone),
            [{"customer_id": customer.id, "raw": p.raw[:64], "digits": p.digits[:20],
              "last7": p.last7} for p in unique],
        )  # fmt: skip
    customer.phones = ", ".join(p.raw for p in unique)[:255] or None
