"""Planning commands: list, agenda, stats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from zoneinfo import ZoneInfo

from commands import workflow
from commands.context import Context
from commands.errors import CommandError, UsageError
from commands.registry import REGISTRY
from commands.tokens import Tokens
from storage import outbox, queries
from storage.models import Role, Ticket

LIST_LIMIT = 20


def ticket_line(ctx: Context, ticket: Ticket, names: dict[int, str], depts: dict[int, str]) -> str:
    """`#12 [high, in progress] text (@it → @petrov, ^27.11.2026)`: one line of a list."""
    where = f"@{depts.get(ticket.department_id, '?')}"
    if ticket.target_staff_id:
        where += f" → @{names.get(ticket.target_staff_id, '?')}"
    if ticket.holder_id and ticket.holder_id != ticket.target_staff_id:
        where += f", @{names.get(ticket.holder_id, '?')}"
    if ticket.due:
        where += f", ^{workflow.due_text(ticket.due)}"
    prio, status = ctx.t(f"prio.{ticket.priority}"), ctx.t(f"status.{ticket.status}")
    text = ticket.text if len(ticket.text) <= 60 else ticket.text[:59] + "…"
    return f"#{ticket.id} [{prio}, {status}] {text} ({where})"


async def ticket_lines(ctx: Context, tickets: Sequence[Ticket]) -> list[str]:
    ids = {i for t in tickets for i in (t.target_staff_id, t.holder_id) if i}
    names = await queries.names_of_staff(ctx.session, ids)
    depts = await ctx.departments(ctx.session, *(t.department_id for t in tickets))
    return [ticket_line(ctx, t, names, depts) for t in tickets]


async def _list_filter(ctx: Context, tokens: Tokens) -> queries.ListFilter:
    words = [w.lower() for w in tokens.words]
    if len(words) + len(tokens.targets) > 1 or tokens.numbers or tokens.who or tokens.due:
        raise UsageError("list_filter_bad", value=" ".join(tokens.words) or "?")
    department_id = staff_id = None
    if tokens.targets:
        name = tokens.targets[0]
        if dept := await queries.department_by_short(ctx.session, name):
            department_id = dept.id
        elif staff := await queries.staff_by_login(ctx.session, name):
            staff_id = staff.id
        else:
            raise UsageError("unknown_target", name=name)
    word = words[0] if words else "all"
    if word not in ("mine", "new", "all", "мои", "новые", "все"):
        raise UsageError("list_filter_bad", value=word)
    return queries.ListFilter(
        mine=word in ("mine", "мои"),
        only_new=word in ("new", "новые"),
        department_id=department_id,
        staff_id=staff_id,
        priority=tokens.priority,
    )


@REGISTRY.command("list", aliases=("список", "ls"), usage="list [mine|new|@target|all] [!prio]")
async def list_tickets(ctx: Context, tokens: Tokens) -> str:
    """Open tickets you may see, newest first."""
    flt = await _list_filter(ctx, tokens)
    tickets, total = await queries.open_tickets(ctx.session, ctx.actor, flt, LIST_LIMIT)
    if not tickets:
        return ctx.t("list_empty")
    lines = await ticket_lines(ctx, tickets)
    if total > len(tickets):
        lines.append(ctx.t("list_more", count=total - len(tickets)))
    return "\n".join(lines)


@REGISTRY.command("agenda", aliases=("план", "повестка"), usage="agenda [@login]")
async def agenda(ctx: Context, tokens: Tokens) -> str:
    """What is due today or overdue for you (a head may ask for a person)."""
    tokens.only("targets")
    if len(tokens.targets) > 1:
        raise UsageError("one_target")
    staff_id, login = ctx.actor.id, ctx.actor.login
    if tokens.targets and tokens.targets[0] != ctx.actor.login:
        staff_id, login = await _person_for_agenda(ctx, tokens.targets[0])
    tickets = await queries.agenda(ctx.session, ctx.actor, staff_id, ctx.today)
    if not tickets:
        return ctx.t("agenda_empty", login=login)
    return "\n".join([ctx.t("agenda_head", login=login), *await ticket_lines(ctx, tickets)])


async def _person_for_agenda(ctx: Context, name: str) -> tuple[int, str]:
    staff = await queries.staff_by_login(ctx.session, name)
    if staff is None or not staff.active:
        raise UsageError("unknown_person", name=name)
    if ctx.actor.role is Role.ADMIN:
        return staff.id, staff.login
    theirs = await queries.department_ids_of(ctx.session, staff)
    if ctx.actor.role is Role.COORDINATOR and theirs & ctx.actor.department_ids:
        return staff.id, staff.login
    raise CommandError("agenda_not_yours")


@REGISTRY.command("stats", aliases=("статистика",), usage="stats")
async def stats(ctx: Context, tokens: Tokens) -> str:
    """A few numbers: open, new today, closed today, overdue, per department."""
    tokens.only()
    local_midnight = datetime.combine(ctx.today, time(), tzinfo=ctx.timezone)
    day_start = local_midnight.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    rows = await queries.stats(ctx.session, ctx.actor, day_start, ctx.today)
    lines = _per_department(ctx, rows) if rows else [ctx.t("stats_empty")]
    if ctx.actor.is_admin and (dead := await outbox.dead_count(ctx.session)):
        lines.append(ctx.t("stats_dead", count=dead))  # the delivery gave up on these
    return "\n".join(lines)


def _per_department(ctx: Context, rows: Sequence[queries.DepartmentStats]) -> list[str]:
    lines = [ctx.t("stats_head")]
    lines += [
        f"@{r.short}: {r.open} / {r.new_today} / {r.closed_today} / {r.overdue}" for r in rows
    ]
    totals = {
        k: sum(getattr(r, k) for r in rows)
        for k in ("open", "new_today", "closed_today", "overdue")
    }
    lines.append(ctx.t("stats_total", **totals))
    return lines
