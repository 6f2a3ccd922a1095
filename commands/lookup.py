"""Resolving what a message names: ticket numbers, targets, customers."""

from __future__ import annotations

from sqlalchemy import select

from commands.context import Context
from commands.errors import CommandError, NotFound, UsageError
from commands.tokens import Tokens
from commands.workflow import Target
from storage import queries
from storage.customer_search import find_customers
from storage.models import Customer, Department, Ticket

NAMED_IN_ERROR = 5  # customers an ambiguous `from` lists


async def one_ticket(ctx: Context, tokens: Tokens, *, for_update: bool = True) -> Ticket:
    """The one ticket the message names, if this person may see it."""
    if not tokens.numbers:
        raise UsageError("need_number")
    if len(tokens.numbers) > 1:
        raise UsageError("one_number")
    number = tokens.numbers[0]
    ticket = await queries.visible_ticket(ctx.session, ctx.actor, number, for_update=for_update)
    if ticket is None:
        raise NotFound(number)
    return ticket


async def target(ctx: Context, name: str) -> Target:
    """`@name`: a department's short name first, then a staff login; a person's
    tickets go to their home department (access.md)."""
    dept = await queries.department_by_short(ctx.session, name)
    if dept is not None:
        return Target(dept.id, dept.short)
    staff = await queries.staff_by_login(ctx.session, name)
    if staff is None or not staff.active:
        raise UsageError("unknown_target", name=name)
    short = await ctx.session.scalar(
        select(Department.short).where(Department.id == staff.home_department_id)
    )
    return Target(staff.home_department_id, short or "?", staff)


async def optional_target(ctx: Context, tokens: Tokens) -> Target | None:
    if len(tokens.targets) > 1:
        raise UsageError("one_target")
    return await target(ctx, tokens.targets[0]) if tokens.targets else None


async def home_target(ctx: Context) -> Target:
    short = await ctx.session.scalar(
        select(Department.short).where(Department.id == ctx.actor.home_department_id)
    )
    return Target(ctx.actor.home_department_id, short or "?")


async def customer(ctx: Context, who: str) -> Customer:
    """`from <who>`: the one customer a phone, login, `c123` or name names; it becomes
    the chat's current customer. A full name that also begins other names ("Иванов
    Иван" beside "Петров Иван Иванович") means the one whose words it has whole."""
    found, total = await find_customers(ctx.session, who, limit=NAMED_IN_ERROR)
    if total > 1 and len(who.split()) > 1:
        whole, whole_total = await find_customers(ctx.session, who, limit=1, whole_words=True)
        if whole_total == 1:
            found, total = whole, 1
    if total == 0:
        raise CommandError("no_customer", who=who)
    if total > 1:
        names = ", ".join(f"c{c.id} {c.full_name}" for c in found)
        if total > len(found):
            names += " " + ctx.t("and_more", count=total - len(found))
        raise CommandError(
            "ambiguous_customer", who=who, count=total, names=names, example=found[0].id
        )
    ctx.choose_customer(found[0].id)
    return found[0]


async def current_customer(ctx: Context) -> Customer | None:
    """The chat's current customer (named by `who` or `from` within 15 minutes)."""
    customer_id = ctx.current_customer_id()
    return await ctx.session.get(Customer, customer_id) if customer_id is not None else None
