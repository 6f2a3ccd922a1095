"""Finding customers however the operator types them (phone, c-id, login, parts of the
name), and what a customer's card shows: calls, tickets, the last few of them."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from importers.names import name_words
from importers.phones import search_keys
from storage.models import Customer, CustomerPhone, CustomerWord, Kind, Ticket

MIN_PREFIX = 3  # shorter words are ignored beside longer ones: initials, "де", "ли"...
MAX_WORDS = 6  # more distinct words than any name has: nobody's name
WORD_MAX = 64  # as CustomerWord.word stores them
CARD_TICKETS = 5
RANGE_PROBE = 1000  # name words counted per query word to choose the range to walk
_HAS_NEXT = frozenset("abcdefghijklmnopqrstuvwxyабвгдежзийклмнопрстуфхцчшщъыьэю012345678")
_CUSTOMER_ID = re.compile(r"[cс](\d{1,9})")  # Latin or Cyrillic c


@dataclass(frozen=True)
class TicketLine:
    number: int
    kind: str
    status: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class CardData:
    calls: int
    tickets: int
    last: list[TicketLine]  # newest first


def customer_id_of(query: str) -> int | None:
    """`c123` (or `с123` with a Cyrillic с): the customer id it names."""
    m = _CUSTOMER_ID.fullmatch(query.strip().lower())
    return int(m[1]) if m else None


async def find_customers(
    session: AsyncSession,
    query: str,
    *,
    region: str = "RU",
    limit: int = 10,
    whole_words: bool = False,
) -> tuple[list[Customer], int]:
    """Up to `limit` customers matching `query`, active ones first, then by name, and
    how many match in all.

    A query is a customer id (`c17`), a phone in any format (`+7 (495) 123-45-67`,
    `84951234567`, the last 7 digits, an extension exactly), a login, or parts of the
    name: each word of 3 letters or more begins a different word of the name, in any
    order, case and ё/е ignored. `whole_words` asks for whole name words instead."""
    ids = await _matching_ids(session, query, region, whole_words)
    if ids is None:
        return [], 0
    # one pass over the matches: the page's ids in order, and how many there are
    ranked = (
        select(Customer.id, func.count().over())
        .where(Customer.id.in_(ids))
        .order_by(Customer.active.desc(), _name_order(), Customer.id)
        .limit(limit)
    )
    page = (await session.execute(ranked)).all()
    if not page:
        return [], 0
    wanted = [customer_id for customer_id, _ in page]
    loaded = await session.scalars(select(Customer).where(Customer.id.in_(wanted)))
    by_id = {customer.id: customer for customer in loaded}
    return [by_id[customer_id] for customer_id in wanted], page[0][1]


def _name_order() -> ColumnElement[str]:
    """Names in order, ё as е (a binary order would put it after я)."""
    return func.replace(func.replace(Customer.full_name, "ё", "е"), "Ё", "Е")


async def _matching_ids(
    session: AsyncSession, query: str, region: str, whole_words: bool
) -> Select[int] | None:
    """The ids of the customers the query names, as a subquery; None for no one."""
    text = " ".join(query.replace('"', " ").split())
    if not text:
        return None
    if (customer_id := customer_id_of(text)) is not None:
        return select(Customer.id).where(Customer.id == customer_id)
    if (phone := search_keys(text, region)) is not None:
        kind, value = phone
        column = CustomerPhone.digits if kind == "digits" else CustomerPhone.last7
        return select(CustomerPhone.customer_id).where(column == value)
    if " " not in text:  # a login names one person exactly, before any name search
        login = select(Customer.id).where(Customer.login == text.lower())
        if (found := await session.scalar(login)) is not None:
            return select(Customer.id).where(Customer.id == found)
    return await _name_ids(session, text, whole_words)


async def _name_ids(session: AsyncSession, text: str, whole_words: bool) -> Select[int] | None:
    """Name search: words of 3 letters or more are prefixes; shorter ones are ignored
    beside them, and must be whole words when they are all there is."""
    words = [w[:WORD_MAX] for w in name_words(text)]
    long = [w for w in words if len(w) >= MIN_PREFIX]
    exact = whole_words or not long
    wanted = Counter(long or words)
    if not wanted or len(wanted) > MAX_WORDS:
        return None
    walk = await _narrowest(session, wanted, exact=exact) if len(wanted) > 1 else next(iter(wanted))
    return name_query(wanted, walk, exact=exact)


async def _narrowest(session: AsyncSession, words: Iterable[str], *, exact: bool) -> str:
    """The word whose range holds the fewest name words (counted up to RANGE_PROBE on
    the word index alone); the longest one among equals."""
    by_length = sorted(words, key=len, reverse=True)
    probes = [
        select(func.count())
        .select_from(
            select(CustomerWord.word)
            .where(_word_range(CustomerWord, w, exact=exact))
            .limit(RANGE_PROBE)
            .subquery()
        )
        .scalar_subquery()
        for w in by_length
    ]
    sizes = (await session.execute(select(*probes))).one()
    return min(zip(sizes, by_length, strict=True), key=lambda pair: int(pair[0]))[1]


def name_query(wanted: Counter[str], walk: str, *, exact: bool) -> Select[int]:
    """Customers whose name has, for each query word (with how often it was given), a
    different word it begins (or equals, when `exact`).

    Each query word is an indexed range on CustomerWord.word (`word >= 'иван' AND
    word < 'ивао'`): no lower() or LIKE, which SQLite knows only for ASCII. The range
    of `walk` is walked; the other words are looked up within each of its customers
    (the (customer_id, word) key). "Different words" holds when each query word has
    at least as many name words in its range as there are query words it begins:
    two words' ranges are nested or apart, so that is enough."""
    walked = aliased(CustomerWord)
    ids = select(walked.customer_id).where(_word_range(walked, walk, exact=exact))
    for word in wanted:
        need = sum(n for w, n in wanted.items() if (w == word if exact else w.startswith(word)))
        if word == walk and need == 1:
            continue
        own = aliased(CustomerWord)
        same = and_(own.customer_id == walked.customer_id, _word_range(own, word, exact=exact))
        if need == 1:
            ids = ids.where(select(own.word).where(same).exists())
        else:
            ids = ids.where(select(func.count()).where(same).scalar_subquery() >= need)
    return ids


def _word_range(words: type[CustomerWord], word: str, *, exact: bool) -> ColumnElement[bool]:
    if exact:
        return words.word == word
    past = _past(word)
    if past is not None and past[:-1] == word[:-1]:
        return and_(words.word >= word, words.word < past)
    # the range reaches past words with other beginnings: check the beginning too
    begins = func.substr(words.word, 1, len(word)) == word
    if past is None:
        return and_(words.word >= word, begins)
    return and_(words.word >= word, words.word < past, begins)


def _past(prefix: str) -> str | None:
    """The first string past every word that begins with `prefix`, in code point order
    (SQLite) and in a language's alphabetical order (PostgreSQL with a ru_RU or ICU
    collation) alike: the last character made the next letter of its alphabet. After
    z, я, 9 or any other character the code points go on with no letter of the same
    alphabet, so the one before is moved on instead; None when none can be."""
    for i in range(len(prefix) - 1, -1, -1):
        if prefix[i] in _HAS_NEXT:
            return prefix[:i] + chr(ord(prefix[i]) + 1)
    return None


async def customer_card_data(
    session: AsyncSession, customer_id: int, visible: ColumnElement[bool] | None = None
) -> CardData:
    """Calls and tickets so far (all of them), and the last few tickets of either kind
    among those `visible` (a condition on Ticket: access.visible_to) allows."""
    counted = select(Ticket.kind, func.count()).where(Ticket.customer_id == customer_id)
    counts: dict[str, int] = {
        kind: n for kind, n in (await session.execute(counted.group_by(Ticket.kind))).all()
    }
    last = (
        select(Ticket.id, Ticket.kind, Ticket.status, Ticket.text, Ticket.created_at)
        .where(Ticket.customer_id == customer_id, visible if visible is not None else true())
        .order_by(Ticket.id.desc())
        .limit(CARD_TICKETS)
    )
    lines = [TicketLine(*row) for row in (await session.execute(last)).all()]
    return CardData(counts.get(Kind.CALL.value, 0), counts.get(Kind.TICKET.value, 0), lines)
