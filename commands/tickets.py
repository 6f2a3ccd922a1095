"""Ticket commands: new, call, show, comment, take, assign, prio, due, close, reopen."""

from __future__ import annotations

from commands import attachments, lookup, workflow
from commands.context import Context
from commands.errors import CommandError, UsageError
from commands.registry import REGISTRY, WORKERS
from commands.tokens import Tokens
from storage import access, queries
from storage.models import Customer, Kind, Priority, Staff, Status, Ticket


@REGISTRY.command(
    "new",
    aliases=("новая", "заявка", "открыть"),
    usage="new [from <who>] <text> [@target] [!prio] [^due]",
)
async def new(ctx: Context, tokens: Tokens) -> str:
    """Open a ticket, for a department or a person (default: your department)."""
    tokens.only("targets", "priority", "due", "who", "words")
    if not tokens.text:
        raise UsageError("need_text")
    customer, extra = await _customer(ctx, tokens)
    target = await lookup.optional_target(ctx, tokens) or await lookup.home_target(ctx)
    ticket = await workflow.open_ticket(
        ctx,
        text=tokens.text,
        target=target,
        customer_id=customer.id if customer else None,
        priority=tokens.priority or Priority.NORMAL,
        due=tokens.due,
    )
    return ctx.t("opened", n=ticket.id, target=target.name, extra=extra)


@REGISTRY.command("call", aliases=("звонок",), usage="call [from <who>] <text>")
async def call(ctx: Context, tokens: Tokens) -> str:
    """Record a call solved on the spot: a ticket opened and closed at once."""
    tokens.only("who", "words")
    if not tokens.text:
        raise UsageError("need_text")
    customer, extra = await _customer(ctx, tokens)
    ticket = await workflow.open_ticket(
        ctx,
        text=tokens.text,
        target=await lookup.home_target(ctx),
        kind=Kind.CALL,
        customer_id=customer.id if customer else None,
    )
    return ctx.t("call_recorded", n=ticket.id, extra=extra or ctx.t("no_current_customer"))


async def _customer(ctx: Context, tokens: Tokens) -> tuple[Customer | None, str]:
    """The customer `from` names, else the chat's current one, and how the reply says
    for whom (nothing when for no one)."""
    if tokens.who:
        customer = await lookup.customer(ctx, tokens.who)
        return customer, f" ({customer.full_name})"
    current = await lookup.current_customer(ctx)
    if current is None:
        return None, ""
    return current, ctx.t("for_current_customer", name=current.full_name)


@REGISTRY.command("show", aliases=("покажи", "показать"), usage="show #N")
async def show(ctx: Context, tokens: Tokens) -> str:
    """Show a ticket: status, priority, due, customer, target, holder, history."""
    tokens.only("numbers")
    ticket = await lookup.one_ticket(ctx, tokens, for_update=False)
    return await _card(ctx, ticket)


async def _card(ctx: Context, ticket: Ticket) -> str:
    events = await queries.history(ctx.session, ticket.id)
    people = {ticket.creator_id, *(e.actor_id for e in events if e.actor_id)}
    people |= {i for i in (ticket.holder_id, ticket.target_staff_id) if i}
    names = await queries.names_of_staff(ctx.session, people)
    depts = await ctx.departments(ctx.session, ticket.department_id)
    status = ctx.t(f"status.{ticket.status}")
    if ticket.kind == Kind.CALL:
        status = ctx.t("show_kind_call")
    lines = [
        ctx.t(
            "show_head",
            n=ticket.id,
            status=status,
            prio=ctx.t(f"prio.{ticket.priority}"),
            text=ticket.text,
        ),
        ctx.t("show_department", dept=depts.get(ticket.department_id, "?")),
    ]
    if ticket.target_staff_id:
        lines.append(ctx.t("show_target", login=names[ticket.target_staff_id]))
    holder = names.get(ticket.holder_id) if ticket.holder_id else None
    lines.append(ctx.t("show_holder", login=holder) if holder else ctx.t("show_nobody"))
    if ticket.due:
        lines.append(ctx.t("show_due", due=workflow.due_text(ticket.due)))
    if name := await queries.customer_name(ctx.session, ticket.customer_id):
        lines.append(ctx.t("show_customer", name=name))
    at = ctx.local(ticket.created_at).strftime("%d.%m.%Y %H:%M")
    lines.append(ctx.t("show_creator", login=names[ticket.creator_id], at=at))
    lines += await attachments.card_lines(ctx, ticket.id)
    lines.append(ctx.t("show_history"))
    for event in events:
        when = ctx.local(event.at).strftime("%d.%m %H:%M")
        who = names.get(event.actor_id, "?") if event.actor_id else "?"
        lines.append(f"  {when} {workflow.event_line(ctx.actor.language, event, who)}")
    return "\n".join(lines)


@REGISTRY.command("comment", aliases=("#", "коммент", "комментарий"), usage="#N <text>")
async def comment(ctx: Context, tokens: Tokens) -> str:
    """Add a comment to a ticket."""
    tokens.only("numbers", "words")
    if not tokens.text:
        raise UsageError("need_text")
    ticket = await lookup.one_ticket(ctx, tokens)
    await workflow.comment(ctx, ticket, tokens.text)
    return ctx.t("commented", n=ticket.id)


def _workable(ticket: Ticket, *, open_only: bool = False) -> None:
    """Calls are records, not work; a closed ticket is routed or planned only once reopened."""
    if ticket.kind == Kind.CALL:
        raise CommandError("call_no_change", n=ticket.id)
    if open_only and ticket.status == Status.CLOSED:
        raise CommandError("closed_reopen_first", n=ticket.id)


@REGISTRY.command("take", aliases=("взять", "беру"), usage="take #N", roles=WORKERS)
async def take(ctx: Context, tokens: Tokens) -> str:
    """Take a ticket: it is yours now, in progress."""
    tokens.only("numbers", "words")
    ticket = await lookup.one_ticket(ctx, tokens)
    _workable(ticket)
    if ticket.holder_id == ctx.actor.id and ticket.status != Status.CLOSED:
        return ctx.t("already_yours", n=ticket.id)
    if ticket.status == Status.CLOSED:
        raise CommandError("already_closed", n=ticket.id)
    holder_departments: frozenset[int] = frozenset()
    if ticket.holder_id is not None:
        holder = await ctx.session.get(Staff, ticket.holder_id)
        if holder is not None:
            holder_departments = await queries.department_ids_of(ctx.session, holder)
    if not access.can_take(ctx.actor, ticket, holder_departments):
        names = await queries.names_of_staff(ctx.session, {ticket.holder_id or 0})
        if ticket.holder_id in names:
            raise CommandError("held_by_other", n=ticket.id, login=names[ticket.holder_id])
        raise CommandError("may_not_take", n=ticket.id)
    await workflow.take(ctx, ticket)
    return ctx.t("taken", n=ticket.id)


@REGISTRY.command("assign", aliases=("передать", "назначить"), usage="assign #N @target")
async def assign(ctx: Context, tokens: Tokens) -> str:
    """Route a ticket to a department or a person."""
    tokens.only("numbers", "targets")
    if not tokens.targets:
        raise UsageError("need_target")
    ticket = await lookup.one_ticket(ctx, tokens)
    _workable(ticket, open_only=True)
    if not access.can_assign(ctx.actor, ticket):
        raise CommandError("may_not_assign", n=ticket.id)
    if len(tokens.targets) > 1:
        raise UsageError("one_target")
    target = await lookup.target(ctx, tokens.targets[0])
    await workflow.assign(ctx, ticket, target)
    return ctx.t("assigned", n=ticket.id, target=target.name)


@REGISTRY.command("prio", aliases=("приоритет",), usage="prio #N !low|normal|high|urgent")
async def prio(ctx: Context, tokens: Tokens) -> str:
    """Change a ticket's priority."""
    tokens.only("numbers", "priority")
    if tokens.priority is None:
        raise UsageError("need_priority")
    ticket = await _changeable(ctx, tokens)
    if ticket.priority == tokens.priority:
        return ctx.t("unchanged", n=ticket.id)
    await workflow.set_priority(ctx, ticket, tokens.priority)
    return ctx.t("prio_set", n=ticket.id, prio=ctx.t(f"prio.{tokens.priority}"))


@REGISTRY.command("due", aliases=("срок",), usage="due #N ^when")
async def due(ctx: Context, tokens: Tokens) -> str:
    """Change a ticket's due date."""
    tokens.only("numbers", "due")
    if tokens.due is None:
        raise UsageError("need_due")
    ticket = await _changeable(ctx, tokens)
    if ticket.due == tokens.due:
        return ctx.t("unchanged", n=ticket.id)
    await workflow.set_due(ctx, ticket, tokens.due)
    return ctx.t("due_set", n=ticket.id, due=workflow.due_text(tokens.due))


async def _changeable(ctx: Context, tokens: Tokens) -> Ticket:
    ticket = await lookup.one_ticket(ctx, tokens)
    _workable(ticket, open_only=True)
    if not access.can_change(ctx.actor, ticket):
        raise CommandError("may_not_change", n=ticket.id)
    return ticket


@REGISTRY.command("close", aliases=("закрыть", "готово"), usage="close #N [text]")
async def close(ctx: Context, tokens: Tokens) -> str:
    """Close a ticket, with an optional resolution."""
    tokens.only("numbers", "words")
    ticket = await lookup.one_ticket(ctx, tokens)
    _workable(ticket)
    if not access.can_close(ctx.actor, ticket):
        raise CommandError("may_not_close", n=ticket.id)
    if ticket.status == Status.CLOSED:
        raise CommandError("already_closed", n=ticket.id)
    await workflow.close(ctx, ticket, tokens.text or None)
    return ctx.t("closed", n=ticket.id)


@REGISTRY.command("reopen", aliases=("переоткрыть", "вернуть"), usage="reopen #N [text]")
async def reopen(ctx: Context, tokens: Tokens) -> str:
    """Reopen a closed ticket (the customer called back)."""
    tokens.only("numbers", "words")
    ticket = await lookup.one_ticket(ctx, tokens)
    _workable(ticket)
    if not access.can_reopen(ctx.actor, ticket):
        raise CommandError("may_not_reopen", n=ticket.id)
    if ticket.status != Status.CLOSED:
        raise CommandError("not_closed", n=ticket.id)
    await workflow.reopen(ctx, ticket, tokens.text or None)
    return ctx.t("reopened", n=ticket.id)
