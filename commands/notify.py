"""Who gets a notification by which channel, and when: the rules of docs/notifications.md
turned into outbox rows. Transport-free: the bot supplies presence and what is configured.

Every row carries an idempotency key made of what it is about (`xmpp:{event}:{staff}`,
`agenda:{day}:{staff}`, ...), so writing the same notification twice is impossible: event
notices are new keys by construction, and the scheduled jobs insert theirs with
`storage.outbox.add_once`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from importers.phones import parse_phone
from storage.models import AckState, Outbox, Priority, Staff

UTC = ZoneInfo("UTC")


def _always_online(_jid: str) -> bool:
    return True


@dataclass(frozen=True)
class Rules:
    """What the process knows beyond the database: presence, the configured channels."""

    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Moscow"))
    available: Callable[[str], bool] = _always_online  # a bare JID has a resource online
    sms: bool = False  # an SMS provider is configured
    email: bool = False  # an SMTP server is configured
    quiet_hours: str | None = "22:00-08:00"  # the default; each person may set their own
    ack_within: Mapping[int, timedelta] = field(default_factory=dict)  # priority -> window
    rooms: Mapping[str, str] = field(default_factory=dict)  # department short -> room JID


@dataclass(frozen=True)
class Notice:
    """One notification to one person, before it is split into channels."""

    key: str  # unique for what it is about, without the channel: "{event}:{staff}"
    text: str
    ticket_id: int | None = None
    event_id: int | None = None
    urgent: bool = False  # passes mute and quiet hours
    routed: bool = False  # a ticket routed to them: `sms on` and offline-urgent apply
    ack_window: timedelta | None = None  # an assignment that must be displayed or taken
    subject: str | None = None  # e-mail


def parse_hours(text: str | None) -> tuple[time, time] | None:
    """'22:00-08:00' as (start, end); None for none ('off', empty, malformed)."""
    if not text or text == "off":
        return None
    try:
        start, end = (time.fromisoformat(part.strip().zfill(5)) for part in text.split("-"))
    except ValueError:
        return None
    return (start, end) if start != end else None


def quiet_until(hours: tuple[time, time] | None, now: datetime, tz: ZoneInfo) -> datetime | None:
    """When the quiet hours that `now` (naive UTC) falls in end, as naive UTC; None when
    `now` is outside them."""
    if hours is None:
        return None
    start, end = hours
    local = now.replace(tzinfo=UTC).astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside, end_day = start <= clock < end, local.date()
    else:  # across midnight: 22:00-08:00
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return _naive_utc(end_day, end, tz)


def _naive_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def e164(phone: str | None) -> str | None:
    """A staff member's phone as +E.164, or None when it is not a full number."""
    parsed = parse_phone(phone) if phone else None
    if parsed is None or parsed.is_extension or len(parsed.digits) < 10:
        return None
    return "+" + parsed.digits


def rows_for(staff: Staff, notice: Notice, rules: Rules, now: datetime) -> list[Outbox]:
    """The outbox rows of one notice to one person: chat always; SMS when they asked for
    every routed ticket, when urgent work finds them offline; e-mail when they chose it.
    A mute holds back what is not urgent; quiet hours hold back SMS that is not."""
    held = staff.muted_until if staff.muted_until and staff.muted_until > now else None
    if notice.urgent:
        held = None

    def row(channel: str, address: str, at: datetime | None = None, **extra: object) -> Outbox:
        return Outbox(
            key=f"{channel}:{notice.key}",
            channel=channel,
            recipient_id=staff.id,
            address=address,
            ticket_id=notice.ticket_id,
            event_id=notice.event_id,
            text=notice.text,
            urgent=notice.urgent,
            created_at=now,
            next_attempt_at=max(filter(None, (now, held, at))),
            **extra,
        )

    waiting = notice.ack_window is not None
    rows = [
        row(
            "xmpp",
            staff.jid,
            ack_window=int(notice.ack_window.total_seconds()) if notice.ack_window else None,
            ack_state=AckState.WAITING.value if waiting else None,
        )
    ]
    phone = e164(staff.phone) if rules.sms else None
    offline_urgent = notice.urgent and not rules.available(staff.jid)
    if phone and notice.routed and (staff.sms or offline_urgent):
        rows.append(row("sms", phone, None if notice.urgent else sms_quiet(staff, rules, now)))
    if rules.email and staff.email and staff.email_mode == "all":
        rows.append(row("email", staff.email, subject=notice.subject))
    return rows


def sms_quiet(staff: Staff, rules: Rules, now: datetime) -> datetime | None:
    """The end of this person's quiet hours when `now` falls in them."""
    own = staff.quiet_hours
    hours = parse_hours(rules.quiet_hours if own is None else own)
    return quiet_until(hours, now, rules.timezone)


def ack_window(rules: Rules, priority: int) -> timedelta | None:
    return rules.ack_within.get(priority)


def is_urgent(priority: int) -> bool:
    return priority >= Priority.URGENT.value


# --- the text: a first line short enough for a phone's notification shade ----------------

SHORT = 60  # characters of the ticket's (or the event's) text on the first line
ELLIPSIS = "…"


def one_line(text: str) -> str:
    """`text` with its line breaks and runs of spaces as single spaces."""
    return " ".join(text.split())


def shorten(text: str, limit: int = SHORT) -> str:
    """`text` on one line; when longer than `limit`, cut at the last space within it (at
    `limit` itself when that space comes too early) and ended with an ellipsis."""
    line = one_line(text)
    if len(line) <= limit:
        return line
    cut = line[:limit]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-—") + ELLIPSIS


def priority_mark(priority: int) -> str:
    """` !high`, ` !urgent`, ` !low`: the token that sets it; nothing for normal."""
    if priority == Priority.NORMAL.value:
        return ""
    try:
        return f" !{Priority(priority).name.lower()}"
    except ValueError:  # not one of the four: shown as nothing rather than failing
        return ""


def _cyrillic(word: str) -> bool:
    return all("а" <= c <= "я" or c in "ё-" for c in word.lower())


def short_name(full_name: str) -> str:
    """`Иванова Анна Петровна` as `Иванова А.П.`, as a surname, name and patronymic is
    said at work; any other name stays whole."""
    words = full_name.split()
    if len(words) != 3 or not all(_cyrillic(word) for word in words):
        return one_line(full_name)
    return f"{words[0]} {words[1][0]}.{words[2][0]}."


def notice_text(
    number: int, priority: int, summary: str, tail: str = "", details: Sequence[str] = ()
) -> str:
    """A notification about ticket #number. Its first line is what a phone shows in its
    notification shade: `#124 !high printer jams — from Иванова А.П.` (the number, the
    priority when not normal, the start of `summary`, then `tail`). The `details` follow
    on lines of their own, and `summary` in full when the first line had to cut it.

    The first line always starts with `#N`: the chat channel gives the message the
    ticket's XMPP thread from it (bot/replies.py)."""
    short = shorten(summary)
    head = f"#{number}{priority_mark(priority)} {short}"
    lines = [f"{head} — {tail}" if tail else head, *details]
    if short != one_line(summary):
        lines.append(summary.strip())
    return "\n".join(lines)
