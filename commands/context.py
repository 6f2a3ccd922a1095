"""What a command runs with: the person, the open session, the time, notifications."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from commands.i18n import t
from commands.notify import Notice, Rules, ack_window, is_urgent, rows_for
from storage import queries
from storage.access import Actor
from storage.models import Outbox, Staff, Ticket, TicketEvent


class DepartmentNames:
    """Departments' short names by id, kept for the life of the process: departments are
    never renamed or removed, so only an id not seen yet makes it look again."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}

    async def __call__(self, session: AsyncSession, *ids: int) -> dict[int, str]:
        if not set(ids) <= self._names.keys():
            self._names = await queries.names_of_departments(session)
        return self._names


class CurrentCustomers:
    """The customer each staff member's chat is about: the last single match of `who`
    or `from`, for 15 minutes, so `new` and `call` need not name them again. Kept in
    memory for the life of the process, by staff id."""

    LIFETIME = timedelta(minutes=15)

    def __init__(self) -> None:
        self._by_staff: dict[int, tuple[int, datetime]] = {}  # customer id, expires at

    def get(self, staff_id: int, now: datetime) -> int | None:
        found = self._by_staff.get(staff_id)
        if found is None or found[1] <= now:
            return None
        return found[0]

    def remember(self, staff_id: int, customer_id: int, now: datetime) -> None:
        if len(self._by_staff) > 10_000:  # staff are few; never let memory grow anyway
            self._by_staff = {s: v for s, v in self._by_staff.items() if v[1] > now}
        self._by_staff[staff_id] = (customer_id, now + self.LIFETIME)


@dataclass
class Context:
    session: AsyncSession
    actor: Actor
    now: datetime  # naive UTC, as stored
    timezone: ZoneInfo
    default_language: str
    departments: DepartmentNames = field(default_factory=DepartmentNames)
    queued: int = field(default=0)
    current_customers: CurrentCustomers = field(default_factory=CurrentCustomers)
    chosen_customer: int | None = None  # becomes current once the command succeeded
    # the directory sync, when LDAP is configured; it writes through sessions of its own,
    # so a command sets `then` to run it after its transaction and answer with its result
    sync: Callable[[str], Awaitable[str]] | None = None  # language -> the summary
    then: Callable[[], Awaitable[str]] | None = None
    rules: Rules = field(default_factory=Rules)  # presence and channels, from the process
    web_url: str | None = None  # the web page's public address, when it is configured
    link_lifetime: timedelta = timedelta(minutes=10)  # of a `report` sign-in link

    @property
    def today(self) -> date:
        return self.local(self.now).date()

    def local(self, moment: datetime) -> datetime:
        """A stored (naive UTC) time in the configured timezone."""
        return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(self.timezone)

    def current_customer_id(self) -> int | None:
        """The current customer of this person's chat, if one was named lately."""
        return self.current_customers.get(self.actor.id, self.now)

    def choose_customer(self, customer_id: int) -> None:
        """Make this the current customer, once the command has fully happened."""
        self.chosen_customer = customer_id

    def t(self, key: str, **params: object) -> str:
        return t(self.actor.language, key, **params)

    def language_of(self, staff: Staff) -> str:
        return staff.language or self.default_language

    def notify(
        self,
        recipients: Iterable[Staff],
        event: TicketEvent,
        render: Callable[[str], str],
        *,
        ticket: Ticket | None = None,
        routed: bool = False,
    ) -> None:
        """Queue a notification of `event` for each recipient but the actor, in the same
        transaction as the change; the bot delivers the outbox after the commit.

        `routed` marks a ticket opened for or routed to them: SMS rules apply, and the
        target person of an urgent or high one must acknowledge it (commands/notify.py)."""
        seen: set[int] = set()
        priority = ticket.priority if ticket is not None else 0
        for staff in recipients:
            if staff.id == self.actor.id or staff.id in seen or not staff.active:
                continue
            seen.add(staff.id)
            target = ticket is not None and routed and ticket.target_staff_id == staff.id
            notice = Notice(
                key=f"{event.id}:{staff.id}",
                text=render(self.language_of(staff)),
                ticket_id=event.ticket_id,
                event_id=event.id,
                urgent=is_urgent(priority),
                routed=routed,
                ack_window=ack_window(self.rules, priority) if target else None,
            )
            self.session.add_all(rows_for(staff, notice, self.rules, self.now))
            self.queued += 1

    def post_to_room(self, department_short: str, event: TicketEvent, text: str) -> None:
        """Queue a line for the department's room, when it has one (xmpp.rooms)."""
        room = self.rules.rooms.get(department_short)
        if room is None:
            return
        self.session.add(
            Outbox(
                key=f"room:{event.id}:{room}"[:64],
                channel="room",
                address=room,
                ticket_id=event.ticket_id,
                event_id=event.id,
                text=text,
                created_at=self.now,
                next_attempt_at=self.now,
            )
        )
        self.queued += 1
