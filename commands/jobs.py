"""The scheduled jobs: morning agenda, escalations, acknowledgements, the heads' digest.

Transport-free: each job is a plain async method taking the time, so the bot's scheduler
and the tests drive them alike. Every row is written with `storage.outbox.add_once` under
a key naming what it is about and which day (`agenda:{day}:{staff}`, ...), so a job run
twice, or after a restart, sends nothing twice."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from commands import planning
from commands.context import Context, DepartmentNames
from commands.i18n import t
from commands.notify import (
    UTC,
    Notice,
    Rules,
    e164,
    is_urgent,
    notice_text,
    rows_for,
    sms_quiet,
)
from commands.planning import ticket_line
from commands.tokens import Tokens
from commands.workflow import due_text
from storage import outbox, queries
from storage.access import Actor
from storage.db import Sessions
from storage.models import AckState, Outbox, OutboxStatus, Priority, Role, Staff, Status, Ticket

_ACKING = (AckState.WAITING.value, AckState.SMS.value)


def by_priority(durations: Mapping[str, timedelta]) -> dict[int, timedelta]:
    """The config's `{urgent: 15m, ...}` keyed by priority number, as the jobs want it."""
    return {Priority[name.upper()].value: within for name, within in durations.items()}


def duration_text(language: str, span: timedelta) -> str:
    """`2 d 3 h`, `1 h 20 min`, `15 min`: the two largest units."""
    minutes = max(0, int(span.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [("dur.d", days), ("dur.h", hours), ("dur.min", minutes)]
    shown = [t(language, key, n=n) for key, n in parts if n][:2]
    return " ".join(shown) or t(language, "dur.min", n=0)


def _fixed(text: str) -> Callable[[str], str]:
    """A text already in its reader's language."""
    return lambda _language: text


def _bare(jid: str) -> str:
    return jid.split("/", 1)[0].lower()


class Jobs:
    """The scheduled jobs over the database; each returns how many messages it queued.

    `take_within`: priority -> how long a ticket may wait to be taken (`by_priority`).
    `rules` may be replaced while running (presence and channels come from the process)."""

    def __init__(
        self,
        sessions: Sessions,
        rules: Rules,
        *,
        language: str,
        take_within: Mapping[int, timedelta],
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.rules = rules
        self.language = language
        self.take_within = dict(take_within)
        self.on_outbox = on_outbox
        self.departments = DepartmentNames()

    # --- helpers -------------------------------------------------------------------------

    def _today(self, now: datetime) -> date:
        return now.replace(tzinfo=UTC).astimezone(self.rules.timezone).date()

    def _language(self, staff: Staff) -> str:
        return staff.language or self.language

    def _queued(self, count: int) -> int:
        if count and self.on_outbox is not None:
            self.on_outbox()
        return count

    def _context(
        self,
        session: AsyncSession,
        staff: Staff,
        now: datetime,
        departments: frozenset[int] = frozenset(),
    ) -> Context:
        """A context in this person's name, for the lines commands show (`ticket_line`)."""
        actor = Actor(
            id=staff.id, login=staff.login, jid=staff.jid, role=Role(staff.role),
            home_department_id=staff.home_department_id,
            department_ids=departments | {staff.home_department_id},
            language=self._language(staff),
        )  # fmt: skip
        return Context(
            session, actor, now, self.rules.timezone, self.language, self.departments,
            rules=self.rules,
        )  # fmt: skip

    def _rows(
        self,
        people: Iterable[Staff],
        key: str,
        render: Callable[[str], str],
        now: datetime,
        *,
        ticket_id: int | None = None,
        urgent: bool = False,
    ) -> list[Outbox]:
        """The outbox rows of one notice to each person (once each), by their channels."""
        rows: list[Outbox] = []
        done: set[int] = set()
        for staff in people:
            if staff.id in done or not staff.active:
                continue
            done.add(staff.id)
            text = render(self._language(staff))
            notice = Notice(f"{key}:{staff.id}", text, ticket_id=ticket_id, urgent=urgent)
            rows += rows_for(staff, notice, self.rules, now)
        return rows

    async def _target_names(
        self, session: AsyncSession, tickets: Sequence[Ticket]
    ) -> tuple[dict[int, str], dict[int, str]]:
        ids = {i for ticket in tickets for i in (ticket.target_staff_id, ticket.holder_id) if i}
        names = await queries.names_of_staff(session, ids)
        return names, await self.departments(session, *(x.department_id for x in tickets))

    # --- the morning agenda --------------------------------------------------------------

    async def morning_agenda(self, now: datetime) -> int:
        """Each person who holds or is the target of something due today or overdue gets
        that list, as `agenda` shows it; nobody else hears anything."""
        today = self._today(now)
        async with self.sessions() as session, session.begin():
            tickets = await queries.due_for_staff(session, today)
            theirs: dict[int, list[Ticket]] = defaultdict(list)
            for ticket in tickets:
                for person in {i for i in (ticket.holder_id, ticket.target_staff_id) if i}:
                    theirs[person].append(ticket)
            names, depts = await self._target_names(session, tickets)
            sent = await _sent(session, [f"agenda:{today}:{i}" for i in theirs])
            rows: list[Outbox] = []
            for staff in await queries.staff_by_ids(session, set(theirs)):
                if f"agenda:{today}:{staff.id}" in sent:
                    continue
                ctx = self._context(session, staff, now)
                lines = [ticket_line(ctx, x, names, depts) for x in theirs[staff.id]]
                text = "\n".join([ctx.t("agenda_head", login=staff.login), *lines])
                rows += self._rows([staff], f"agenda:{today}", _fixed(text), now)
            added = await outbox.add_once(session, rows)
        return self._queued(added)

    # --- escalations ---------------------------------------------------------------------

    async def escalate(self, now: datetime) -> int:
        """Tickets nobody took within their priority's limit, and overdue ones, to the heads
        of their department (and the admins when urgent): once a day each."""
        today = self._today(now)
        async with self.sessions() as session, session.begin():
            cutoffs = {priority: now - within for priority, within in self.take_within.items()}
            found = [("take", x) for x in await queries.not_taken(session, cutoffs)]
            found += [("due", x) for x in await queries.overdue_tickets(session, today)]
            if not found:
                return 0
            heads = await queries.heads_of_departments(session, {x.department_id for _, x in found})
            any_urgent = any(is_urgent(x.priority) for _, x in found)
            admins = await queries.active_admins(session) if any_urgent else []
            wanted = [
                (kind, x, f"esc-{kind}:{x.id}:{today}",
                 [*heads.get(x.department_id, []), *(admins if is_urgent(x.priority) else [])])
                for kind, x in found
            ]  # fmt: skip
            # most runs find what they found before: only the rest is written again
            sent = await _sent(session, [f"{key}:{p.id}" for *_, key, ps in wanted for p in ps])
            fresh = [
                (kind, x, key, [p for p in people if f"{key}:{p.id}" not in sent])
                for kind, x, key, people in wanted
            ]
            fresh = [item for item in fresh if item[3]]
            names, depts = await self._target_names(session, [x for _, x, _, _ in fresh])
            rows: list[Outbox] = []
            for kind, ticket, key, people in fresh:
                render = _escalation(kind, ticket, names, depts, now, today)
                urgent = is_urgent(ticket.priority)
                rows += self._rows(people, key, render, now, ticket_id=ticket.id, urgent=urgent)
            added = await outbox.add_once(session, rows)
        return self._queued(added)

    # --- acknowledgements ----------------------------------------------------------------

    async def check_acks(self, now: datetime) -> int:
        """Urgent and high assignments neither displayed nor taken: after the window by SMS
        (even to those with `sms off`), after twice the window to the person's heads."""
        async with self.sessions() as session, session.begin():
            result = await session.execute(_unacknowledged())
            found: list[tuple[Outbox, Ticket | None, Staff | None]] = [
                (row, ticket, staff) for row, ticket, staff in result
            ]
            if not found:
                return 0
            homes = {staff.home_department_id for _, _, staff in found if staff is not None}
            heads = await queries.heads_of_departments(session, homes)
            sms_keys = [_sms_key(row) for row, _, _ in found]
            texted = set(await session.scalars(select(Outbox.key).where(Outbox.key.in_(sms_keys))))
            rows: list[Outbox] = []
            for row, ticket, staff in found:
                if ticket is None or staff is None or _settled(ticket, staff):
                    row.ack_state = AckState.DONE.value
                else:
                    their = [h for h in heads.get(staff.home_department_id, []) if h.id != staff.id]
                    rows += self._chase(row, ticket, staff, their, texted, now)
            added = await outbox.add_once(session, rows)
        return self._queued(added)

    def _chase(
        self,
        row: Outbox,
        ticket: Ticket,
        staff: Staff,
        heads: Sequence[Staff],
        texted: set[str],
        now: datetime,
    ) -> list[Outbox]:
        """The next step for one assignment still waiting to be displayed or taken."""
        assert row.sent_at is not None
        window = timedelta(seconds=row.ack_window or 0)
        rows: list[Outbox] = []
        heads_now = False
        if row.ack_state == AckState.WAITING.value and row.sent_at + window <= now:
            row.ack_state = AckState.SMS.value
            # an SMS that went with the notice itself (`sms on`, offline) is not repeated
            sms = None if _sms_key(row) in texted else self._ack_sms(row, staff, now)
            rows += [sms] if sms is not None else []
            heads_now = sms is None and _sms_key(row) not in texted  # no way to text them
        if row.ack_state == AckState.SMS.value and (heads_now or row.sent_at + 2 * window <= now):
            row.ack_state = AckState.DONE.value
            render = _ack_head(ticket, staff, now - row.sent_at)
            key, urgent = f"ack-head:{row.id}", row.urgent
            rows += self._rows(heads, key, render, now, ticket_id=ticket.id, urgent=urgent)
        return rows

    def _ack_sms(self, row: Outbox, staff: Staff, now: datetime) -> Outbox | None:
        """The assignment's own text by SMS; an urgent one ignores mute and quiet hours."""
        phone = e164(staff.phone) if self.rules.sms else None
        if phone is None:
            return None
        at = now
        if not row.urgent:
            muted = staff.muted_until if staff.muted_until and staff.muted_until > now else None
            at = max(filter(None, (now, muted, sms_quiet(staff, self.rules, now))))
        return Outbox(
            key=f"ack-sms:{row.id}",
            channel="sms",
            recipient_id=staff.id,
            address=phone,
            ticket_id=row.ticket_id,
            event_id=row.event_id,
            text=row.text,
            urgent=row.urgent,
            created_at=now,
            next_attempt_at=at,
        )

    async def acknowledge(
        self,
        sender_jid: str,
        message_id: str,
        kind: Literal["received", "displayed"],
        now: datetime,
    ) -> bool:
        """A XEP-0184 receipt or XEP-0333 marker for the chat message with this key (its
        stanza id); only its recipient's own can count. Returns whether anything changed."""
        async with self.sessions() as session, session.begin():
            row = await session.scalar(
                select(Outbox).where(Outbox.key == message_id, Outbox.channel == "xmpp")
            )
            if row is None or _bare(row.address) != _bare(sender_jid):
                return False
            changed = row.received_at is None
            row.received_at = row.received_at or now
            if kind == "received":
                return changed
            # markers are cumulative (XEP-0333): what came before this one was seen too
            earlier = await session.scalars(
                select(Outbox).where(
                    Outbox.channel == "xmpp",
                    Outbox.address == row.address,
                    Outbox.id < row.id,
                    Outbox.ack_state.in_(_ACKING),
                    Outbox.displayed_at.is_(None),
                    Outbox.status == OutboxStatus.SENT.value,
                )
            )
            for seen in [row, *earlier]:
                changed |= seen.displayed_at is None or seen.ack_state in _ACKING
                seen.displayed_at = seen.displayed_at or now
                seen.received_at = seen.received_at or now
                if seen.ack_state in _ACKING:
                    seen.ack_state = AckState.DONE.value
            return changed

    # --- the heads' digest ---------------------------------------------------------------

    async def daily_digest(self, now: datetime) -> int:
        """One e-mail a day to each head or admin who chose the digest: per department they
        see, open / new today / closed today / overdue, then what needs attention."""
        if not self.rules.email:
            return 0
        today = self._today(now)
        async with self.sessions() as session, session.begin():
            rows: list[Outbox] = []
            for staff in await queries.digest_readers(session):
                departments = await queries.department_ids_of(session, staff)
                ctx = self._context(session, staff, now, departments)
                assert staff.email is not None
                rows.append(
                    Outbox(
                        key=f"digest:{today}:{staff.id}",
                        channel="email",
                        recipient_id=staff.id,
                        address=staff.email,
                        subject=ctx.t("digest.subject", day=due_text(today)),
                        text=await self._digest_text(ctx, today),
                        created_at=now,
                        next_attempt_at=now,
                    )
                )
            added = await outbox.add_once(session, rows)
        return self._queued(added)

    async def _digest_text(self, ctx: Context, today: date) -> str:
        """What `stats` says to this person, then the tickets that need attention."""
        lines = [await planning.stats(ctx, Tokens())]
        tickets = await queries.needing_attention(
            ctx.session, ctx.actor, today, Priority.HIGH.value
        )
        overdue = [x for x in tickets if x.due is not None and x.due < today]
        waiting = [x for x in tickets if x not in overdue]
        names, depts = await self._target_names(ctx.session, tickets)
        for title, group in (("digest.overdue", overdue), ("digest.waiting", waiting)):
            if group:
                lines += ["", ctx.t(title), *(ticket_line(ctx, x, names, depts) for x in group)]
        return "\n".join(lines)


def _escalation(
    kind: str,
    ticket: Ticket,
    names: dict[int, str],
    depts: dict[int, str],
    now: datetime,
    today: date,
) -> Callable[[str], str]:
    if ticket.target_staff_id is not None:
        target = names.get(ticket.target_staff_id, "?")
    else:
        target = depts.get(ticket.department_id, "?")
    holder = None
    if ticket.holder_id is not None and ticket.holder_id != ticket.target_staff_id:
        holder = names.get(ticket.holder_id, "?")  # the target is named already

    def render(language: str) -> str:
        """`#N !prio text — not taken for 2 h` (or `— overdue by 1 d`), then for whom."""
        prio, due = t(language, f"prio.{ticket.priority}"), ""
        if kind == "take":
            why = t(language, "esc.take", waited=duration_text(language, now - ticket.created_at))
        else:
            assert ticket.due is not None
            late = duration_text(language, timedelta(days=(today - ticket.due).days))
            why, due = t(language, "esc.due", late=late), f", ^{due_text(ticket.due)}"
        held = t(language, "esc.held", login=holder) if holder else ""
        whom = t(language, "esc.for", target=target, holder=held, prio=prio, due=due)
        return notice_text(ticket.id, ticket.priority, ticket.text, why, [whom])

    return render


def _unacknowledged() -> Select[Outbox, Ticket, Staff]:
    """Chat rows of assignments sent and not displayed yet, with their ticket and person
    (either may be gone: the joins are outer)."""
    return (
        select(Outbox, Ticket, Staff)
        .outerjoin(Ticket, Ticket.id == Outbox.ticket_id)
        .outerjoin(Staff, Staff.id == Outbox.recipient_id)
        .where(
            Outbox.channel == "xmpp",
            Outbox.ack_state.in_(_ACKING),
            Outbox.status == OutboxStatus.SENT.value,
            Outbox.displayed_at.is_(None),
        )
        .order_by(Outbox.id)
    )


async def _sent(session: AsyncSession, notice_keys: Sequence[str]) -> set[str]:
    """Which of these notices went out already (their chat row is there)."""
    if not notice_keys:
        return set()
    chat_keys = [f"xmpp:{key}" for key in notice_keys]
    found = await session.scalars(select(Outbox.key).where(Outbox.key.in_(chat_keys)))
    return {key.removeprefix("xmpp:") for key in found}


def _sms_key(row: Outbox) -> str:
    """The key an SMS sent along with this chat row has (commands/notify.py `rows_for`)."""
    return "sms:" + row.key.removeprefix("xmpp:")


def _settled(ticket: Ticket, staff: Staff) -> bool:
    """Nothing left to chase: taken (by anyone), closed, routed elsewhere, or they left."""
    return (
        ticket.holder_id is not None
        or ticket.status == Status.CLOSED.value
        or ticket.target_staff_id != staff.id
        or not staff.active
    )


def _ack_head(ticket: Ticket, staff: Staff, waited: timedelta) -> Callable[[str], str]:
    def render(language: str) -> str:
        """`#N !prio text — neither read nor taken by @login in 10 min`, then for whom."""
        prio, span = t(language, f"prio.{ticket.priority}"), duration_text(language, waited)
        why = t(language, "ack.head", login=staff.login, waited=span)
        whom = t(language, "esc.for", target=staff.login, holder="", prio=prio, due="")
        return notice_text(ticket.id, ticket.priority, ticket.text, why, [whom])

    return render
