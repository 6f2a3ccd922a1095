"""Customer commands: `who` finds a caller and shows their card or a short list."""

from __future__ import annotations

from commands.context import Context
from commands.errors import CommandError, UsageError
from commands.registry import REGISTRY
from commands.tokens import Tokens
from storage import access
from storage.customer_search import CardData, TicketLine, customer_card_data, find_customers
from storage.models import Customer, Kind

LIST_LIMIT = 10
TEXT_SHOWN = 60  # of a ticket's text on the card


@REGISTRY.command("who", aliases=("кто",), usage="who <phone|name|login|c123>", raw=True)
async def who(ctx: Context, tokens: Tokens) -> str:
    """Find a customer by phone, name or login."""
    query = " ".join(tokens.words).strip()
    if query.startswith("@"):  # `who @ivanov`: a login written as a target
        query = query[1:]
    if not query:
        raise UsageError("need_text")
    found, total = await find_customers(ctx.session, query, limit=LIST_LIMIT)
    if total == 0:
        raise CommandError("no_customer", who=query)
    if total == 1:
        ctx.choose_customer(found[0].id)
        return await card(ctx, found[0])
    return short_list(ctx, query, found, total)


def short_list(ctx: Context, query: str, found: list[Customer], total: int) -> str:
    """`1. Иванов Иван Петрович — Бухгалтерия, room 214, 4521 (c17)`, numbered."""
    lines = [ctx.t("who_many", count=total, query=query)]
    for number, customer in enumerate(found, 1):
        details = [customer.department, customer.room and ctx.t("who_room", room=customer.room)]
        details += [customer.phones, None if customer.active else ctx.t("who_inactive")]
        shown = ", ".join(d for d in details if d)
        lines.append(
            f"{number}. {customer.full_name}{' — ' + shown if shown else ''} (c{customer.id})"
        )
    if total > len(found):
        lines.append(ctx.t("list_more", count=total - len(found)))
    return "\n".join(lines)


async def card(ctx: Context, customer: Customer) -> str:
    """Name, login, department, room, phones, e-mail, active or not, calls and tickets
    so far, and the last tickets this person may see."""
    data = await customer_card_data(ctx.session, customer.id, access.visible_to(ctx.actor))
    lines = [f"{customer.full_name} (c{customer.id})"]
    fields = [
        ("card_login", customer.login),
        ("card_department", customer.department),
        ("card_room", customer.room),
        ("card_phones", customer.phones),
        ("card_email", customer.email),
    ]
    lines += [ctx.t(key, value=value) for key, value in fields if value]
    lines.append(ctx.t("card_active" if customer.active else "card_inactive"))
    lines.append(ctx.t("card_counts", calls=data.calls, tickets=data.tickets))
    lines += _last_tickets(ctx, data)
    return "\n".join(lines)


def _last_tickets(ctx: Context, data: CardData) -> list[str]:
    if not data.last:
        return []
    return [ctx.t("card_last"), *(_ticket_line(ctx, ticket) for ticket in data.last)]


def _ticket_line(ctx: Context, ticket: TicketLine) -> str:
    """`#12 [closed] printer jams (25.11.2026)`"""
    if ticket.kind == Kind.CALL:
        status = ctx.t("show_kind_call")
    else:
        status = ctx.t(f"status.{ticket.status}")
    text = " ".join(ticket.text.split())
    if len(text) > TEXT_SHOWN:
        text = text[: TEXT_SHOWN - 1].rstrip() + "…"
    when = ctx.local(ticket.created_at).strftime("%d.%m.%Y")
    return ctx.t("card_ticket", n=ticket.number, status=status, text=text, date=when)
