"""The one write path for tickets: one function per action, each writing the ticket,
its history row and its notifications in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from commands.context import Context
from commands.i18n import t
from commands.notify import notice_text, short_name
from storage import queries
from storage.models import Attachment, Kind, Role, Staff, Status, Ticket, TicketEvent


@dataclass(frozen=True)
class Target:
    """Where a ticket goes: always a department, maybe a person in it."""

    department_id: int
    department_short: str
    staff: Staff | None = None

    @property
    def name(self) -> str:
        return self.staff.login if self.staff else self.department_short


def due_text(due: date | None) -> str:
    return due.strftime("%d.%m.%Y") if due else ""


async def _event(
    ctx: Context,
    ticket: Ticket,
    action: str,
    *,
    old: str | None = None,
    new: str | None = None,
    text: str | None = None,
    field: str | None = None,
) -> TicketEvent:
    event = TicketEvent(
        ticket_id=ticket.id,
        actor_id=ctx.actor.id,
        at=ctx.now,
        action=action,
        field=field,
        old=old,
        new=new,
        text=text,
    )
    ctx.session.add(event)
    await ctx.session.flush()
    return event


async def routed_recipients(ctx: Context, ticket: Ticket) -> Sequence[Staff]:
    """A person: that person and their head. A department: every member who may see
    it (all of them, as it has no target person) and its head."""
    if ticket.target_staff_id is not None:
        person = await queries.staff_by_ids(ctx.session, {ticket.target_staff_id})
        if not person:
            return []
        heads = await queries.staff_of_departments(
            ctx.session, {person[0].home_department_id}, {Role.COORDINATOR}
        )
        return [*person, *heads]
    return await queries.staff_of_departments(ctx.session, {ticket.department_id}, set(Role))


async def change_recipients(ctx: Context, ticket: Ticket) -> Sequence[Staff]:
    """Whoever holds it, its target person, its creator, and the head of its department."""
    people = {i for i in (ticket.holder_id, ticket.target_staff_id, ticket.creator_id) if i}
    heads = await queries.staff_of_departments(
        ctx.session, {ticket.department_id}, {Role.COORDINATOR}
    )
    return [*await queries.staff_by_ids(ctx.session, people), *heads]


RenderFn = Callable[[str], str]


async def _routed_notice(ctx: Context, ticket: Ticket, target: str, key: str) -> RenderFn:
    """A ticket opened for or assigned to `target`: `#N !prio text — from <customer>`
    (from its creator when it has no customer), then where it goes and who sent it."""
    customer = await queries.customer_name(ctx.session, ticket.customer_id)
    if customer is not None:
        origin = short_name(customer)
    elif ticket.creator_id == ctx.actor.id:
        origin = f"@{ctx.actor.login}"
    else:
        names = await queries.names_of_staff(ctx.session, {ticket.creator_id})
        origin = f"@{names.get(ticket.creator_id, '?')}"
    if key == "notice.open" and customer is not None:
        key = "notice.open_by"  # the first line names the customer: say who opened it

    def render(language: str) -> str:
        due = f", ^{due_text(ticket.due)}" if ticket.due else ""
        prio = t(language, f"prio.{ticket.priority}")
        line = t(language, key, target=target, prio=prio, due=due, who=ctx.actor.login)
        tail = t(language, "notice.from", who=origin)
        return notice_text(ticket.id, ticket.priority, ticket.text, tail, [line])

    return render


def change_notice(ticket: Ticket, event: TicketEvent, who: str) -> RenderFn:
    """A change of a ticket (comment, take, close, ...) as its history line says it:
    `#N !prio @who: text`, cut short on the first line and then given in full."""

    def render(language: str) -> str:
        return notice_text(ticket.id, ticket.priority, event_line(language, event, who))

    return render


async def _notify_change(
    ctx: Context, ticket: Ticket, event: TicketEvent, also: Sequence[Staff] = ()
) -> None:
    render = change_notice(ticket, event, ctx.actor.login)
    ctx.notify([*await change_recipients(ctx, ticket), *also], event, render, ticket=ticket)


def event_line(language: str, event: TicketEvent, who: str) -> str:
    """One history line, as `show` lists it and notifications say it."""
    new = event.new
    if event.action == "priority" and new:
        new = t(language, f"prio.{new}")
    line = t(language, f"event.{event.action}", who=who, new=new, text=event.text or "")
    if event.text and event.action not in ("comment",):
        line += f": {event.text}"
    return line


async def open_ticket(
    ctx: Context,
    *,
    text: str,
    target: Target,
    kind: Kind = Kind.TICKET,
    customer_id: int | None = None,
    priority: int = 2,
    due: date | None = None,
) -> Ticket:
    """A new ticket; a call is closed at once and notifies nobody."""
    ticket = Ticket(
        kind=kind.value,
        text=text,
        customer_id=customer_id,
        creator_id=ctx.actor.id,
        department_id=target.department_id,
        target_staff_id=target.staff.id if target.staff else None,
        priority=priority,
        due=due,
        created_at=ctx.now,
        status=Status.NEW.value,
    )
    if kind is Kind.CALL:
        ticket.status, ticket.closed_at = Status.CLOSED.value, ctx.now
        ticket.holder_id, ticket.taken_at = ctx.actor.id, ctx.now
    ctx.session.add(ticket)
    await ctx.session.flush()
    event = await _event(ctx, ticket, "open", new=target.name)
    if kind is Kind.TICKET:
        render = await _routed_notice(ctx, ticket, target.name, "notice.open")
        recipients = await routed_recipients(ctx, ticket)
        ctx.notify(recipients, event, render, ticket=ticket, routed=True)
        if target.staff is None:  # a person's ticket is not for their colleagues' eyes
            ctx.post_to_room(target.department_short, event, render(ctx.default_language))
    return ticket


async def comment(ctx: Context, ticket: Ticket, text: str) -> None:
    event = await _event(ctx, ticket, "comment", text=text)
    await _notify_change(ctx, ticket, event)


async def attach(ctx: Context, ticket: Ticket, attachment: Attachment, caption: str) -> None:
    """A file on the ticket: its row, an "attached" history line (with the caption, if
    the message had text besides the link) and a notification like a comment's."""
    ctx.session.add(attachment)
    event = await _event(ctx, ticket, "attached", new=attachment.file_name, text=caption or None)
    await _notify_change(ctx, ticket, event)


async def take(ctx: Context, ticket: Ticket) -> None:
    old = str(ticket.holder_id) if ticket.holder_id else None
    # on a take-over, the one it is taken from hears of it too
    held = {ticket.holder_id} if ticket.holder_id else set()
    previous = await queries.staff_by_ids(ctx.session, held)
    ticket.holder_id, ticket.status, ticket.taken_at = (
        ctx.actor.id,
        Status.IN_PROGRESS.value,
        ctx.now,
    )
    event = await _event(ctx, ticket, "take", field="holder", old=old, new=ctx.actor.login)
    await _notify_change(ctx, ticket, event, previous)


async def assign(ctx: Context, ticket: Ticket, target: Target) -> None:
    """Route it; whoever held it lets go unless they are the new target person."""
    before = await change_recipients(ctx, ticket)
    old = await _target_name(ctx, ticket)
    ticket.department_id = target.department_id
    ticket.target_staff_id = target.staff.id if target.staff else None
    if ticket.holder_id is not None and ticket.holder_id != ticket.target_staff_id:
        ticket.holder_id, ticket.taken_at = None, None
        if ticket.status == Status.IN_PROGRESS.value:
            ticket.status = Status.NEW.value
    event = await _event(ctx, ticket, "assign", field="target", old=old, new=target.name)
    render = await _routed_notice(ctx, ticket, target.name, "notice.assign")
    routed = await routed_recipients(ctx, ticket)
    ctx.notify(routed, event, render, ticket=ticket, routed=True)
    told = {staff.id for staff in routed}
    ctx.notify([s for s in before if s.id not in told], event, render, ticket=ticket)


async def _target_name(ctx: Context, ticket: Ticket) -> str:
    if ticket.target_staff_id is not None:
        names = await queries.names_of_staff(ctx.session, {ticket.target_staff_id})
        return names.get(ticket.target_staff_id, "?")
    names = await ctx.departments(ctx.session, ticket.department_id)
    return names.get(ticket.department_id, "?")


async def set_priority(ctx: Context, ticket: Ticket, priority: int) -> None:
    old, ticket.priority = ticket.priority, priority
    event = await _event(ctx, ticket, "priority", field="priority", old=str(old), new=str(priority))
    await _notify_change(ctx, ticket, event)


async def set_due(ctx: Context, ticket: Ticket, due: date) -> None:
    old, ticket.due = ticket.due, due
    event = await _event(ctx, ticket, "due", field="due", old=due_text(old), new=due_text(due))
    await _notify_change(ctx, ticket, event)


async def close(ctx: Context, ticket: Ticket, text: str | None) -> None:
    ticket.status, ticket.closed_at = Status.CLOSED.value, ctx.now
    event = await _event(ctx, ticket, "close", field="status", old=None, new="closed", text=text)
    await _notify_change(ctx, ticket, event)


async def reopen(ctx: Context, ticket: Ticket, text: str | None) -> None:
    """Back to whoever held it and its target (access.md: they are kept on close)."""
    ticket.status = Status.IN_PROGRESS.value if ticket.holder_id else Status.NEW.value
    ticket.closed_at = None
    event = await _event(
        ctx, ticket, "reopen", field="status", old="closed", new=ticket.status, text=text
    )
    await _notify_change(ctx, ticket, event)
