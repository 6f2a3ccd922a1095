"""SQLAlchemy models: departments, staff, customers, tickets, their history and the outbox."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.clock import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Role(enum.StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    USER = "user"


class Status(enum.StrEnum):
    NEW = "new"
    IN_PROGRESS = "in progress"
    CLOSED = "closed"


class Kind(enum.StrEnum):
    TICKET = "ticket"
    CALL = "call"


class Priority(enum.IntEnum):
    LOW = 1
    NORMAL = 2
    HIGH = 3
    URGENT = 4


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    short: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))


staff_departments = Table(
    "staff_departments",
    Base.metadata,
    Column("staff_id", ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    Column("department_id", ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_staff_departments_department_id", "department_id"),
)


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    jid: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    home_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(2))
    sms: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    email: Mapped[str | None] = mapped_column(String(255))
    # e-mail: "off", "all" (every notification) or "digest" (a head's daily digest)
    email_mode: Mapped[str] = mapped_column(String(8), default="off", server_default="off")
    # "22:00-08:00" of their own, "off" for none, None for the configured default
    quiet_hours: Mapped[str | None] = mapped_column(String(16))
    muted_until: Mapped[datetime | None] = mapped_column(DateTime)  # `mute [hours]`

    home_department: Mapped[Department] = relationship(lazy="raise")
    extra_departments: Mapped[list[Department]] = relationship(
        secondary=staff_departments, lazy="raise"
    )


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str | None] = mapped_column(String(128), unique=True)  # the LDAP key
    full_name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    phones: Mapped[str | None] = mapped_column(String(255))  # as shown: "+7 495 ..., 4521"
    room: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(16), default="manual")  # ldap|phonebook|manual
    # normalized full name (lower case, ё→е, words sorted): exact-name lookups and merges
    name_key: Mapped[str] = mapped_column(String(255), default="", index=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)


class CustomerWord(Base):
    """One normalized word of a customer's name: `who иван` is an indexed prefix search
    (SQLite's lower() and LIKE know only ASCII, so the words are stored normalized)."""

    __tablename__ = "customer_words"
    # covering: a prefix range on `word` yields the customer ids without a table lookup
    __table_args__ = (Index("ix_customer_words_word_customer", "word", "customer_id"),)

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    word: Mapped[str] = mapped_column(String(64), primary_key=True)


class CustomerPhone(Base):
    """A customer's phone, normalized so any way of typing it finds them."""

    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    raw: Mapped[str] = mapped_column(String(64))  # as written in the source
    digits: Mapped[str] = mapped_column(String(20), index=True)  # E.164 without +, or extension
    last7: Mapped[str | None] = mapped_column(String(7), index=True)  # None for extensions


class MergeReview(Base):
    """A phone-book row whose name fits several directory people: a person decides."""

    __tablename__ = "merge_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(255))  # the phone-book file's name
    line: Mapped[int] = mapped_column(Integer)
    full_name: Mapped[str] = mapped_column(String(255))
    name_key: Mapped[str] = mapped_column(String(255), index=True)
    phone: Mapped[str | None] = mapped_column(String(64))
    room: Mapped[str | None] = mapped_column(String(64))
    candidates: Mapped[str] = mapped_column(String(255))  # customer ids, comma-separated
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | resolved
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)


_REPORT_COLUMNS = ("kind", "department_id", "priority", "target_staff_id", "creator_id")


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # per-message queries: open tickets of a department, of a person, by holder
        Index("ix_tickets_department_status", "department_id", "status"),
        Index("ix_tickets_target_staff_status", "target_staff_id", "status"),
        Index("ix_tickets_holder_status", "holder_id", "status"),
        # reports (storage/reports/): a period's or the open tickets' rows read from
        # the index alone, with the columns of visible_to() and of the groups
        Index("ix_tickets_open_report", "status", *_REPORT_COLUMNS),
        Index("ix_tickets_due_report", "status", "due", *_REPORT_COLUMNS, "id"),
        Index("ix_tickets_created_report", "created_at", *_REPORT_COLUMNS, "taken_at", "closed_at"),
        Index("ix_tickets_closed_report", "closed_at", *_REPORT_COLUMNS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)  # the ticket number, #N
    kind: Mapped[str] = mapped_column(String(8), default=Kind.TICKET.value)
    text: Mapped[str] = mapped_column(Text)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    target_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    status: Mapped[str] = mapped_column(String(16), default=Status.NEW.value)
    priority: Mapped[int] = mapped_column(Integer, default=Priority.NORMAL.value)
    due: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def number(self) -> int:
        return self.id


class TicketEvent(Base):
    """One row of a ticket's history: who changed what, when, from what to what."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(16))
    field: Mapped[str | None] = mapped_column(String(32))
    old: Mapped[str | None] = mapped_column(String(255))
    new: Mapped[str | None] = mapped_column(String(255))
    text: Mapped[str | None] = mapped_column(Text)


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # written before the provider is called, `sent` after it accepted
    SENT = "sent"
    DEAD = "dead"


class AckState(enum.StrEnum):
    """An urgent or high assignment waits to be displayed or taken (XEP-0333/0184)."""

    WAITING = "waiting"  # sent; neither displayed nor taken yet
    SMS = "sms"  # the ack window passed: it went out by SMS too
    DONE = "done"  # displayed, taken, or escalated to the head


class Outbox(Base):
    """A notification waiting for delivery; written in the transaction of its change."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_recipient_status", "recipient_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # idempotency key
    channel: Mapped[str] = mapped_column(String(16), default="xmpp")
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    address: Mapped[str] = mapped_column(String(255))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket_events.id", ondelete="SET NULL")
    )
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(255))
    sending_at: Mapped[datetime | None] = mapped_column(DateTime)  # the last attempt began
    subject: Mapped[str | None] = mapped_column(String(255))  # e-mail
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # acknowledgement of assignments: seconds to wait, the state, what the client said
    ack_window: Mapped[int | None] = mapped_column(Integer)
    ack_state: Mapped[str | None] = mapped_column(String(8), index=True)
    received_at: Mapped[datetime | None] = mapped_column(DateTime)  # XEP-0184 receipt
    displayed_at: Mapped[datetime | None] = mapped_column(DateTime)  # XEP-0333 marker


class InboundMessage(Base):
    """A chat message already handled, so a redelivered one is not executed twice."""

    __tablename__ = "inbound_messages"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class WebLink(Base):
    """A one-time sign-in link to the web page (`report`): only the token's SHA-256 is kept."""

    __tablename__ = "web_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class WebSession(Base):
    """A signed-in browser; the cookie holds the id, the table only its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Attachment(Base):
    """A file a staff member sent to a ticket from chat (XEP-0363 upload), stored under
    attachments.folder by its SHA-256; the same content is stored once."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))  # who sent it
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)  # bytes
    sha256: Mapped[str] = mapped_column(String(64))
    stored_path: Mapped[str] = mapped_column(String(255))  # relative to attachments.folder
    source_url: Mapped[str] = mapped_column(Text)  # where it was downloaded from
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
