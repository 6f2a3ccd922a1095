"""Resolving what a message names: ticket numbers, targets, customers."""

from __future__ import annotations

import re

from sqlalchemy import select

from commands.context import Context
from commands.errors import CommandError, NotFound, UsageError
from commands.tokens import Tokens
from commands.workflow import Target
from storage import queries
from storage.models import Customer, Department, Ticket


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
    """`from <who>`: a customer id (`c123`) or a login. Phone and name search come with
    the customer-base import; until then anything else matches no one."""
    query = select(Customer)
    if m := re.fullmatch(r"[cс](\d{1,9})", who.lower()):
        query = query.where(Customer.id == int(m[1]))
    else:
        query = query.where(Customer.login == who.lower())
    found = await ctx.session.scalar(query)
    if found is None:
        raise CommandError("no_customer", who=who)
    return found
