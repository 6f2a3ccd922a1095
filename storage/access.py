"""Who sees and may change which ticket (access.md), in SQL and as predicates.

`visible_to` is the one place that builds the "visible to this person" condition;
every query that loads tickets for a person uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from storage.models import Role, Staff, Ticket


@dataclass(frozen=True)
class Actor:
    """The staff member a command runs for, with everything access checks need."""

    id: int
    login: str
    jid: str
    role: Role
    home_department_id: int
    department_ids: frozenset[int]
    language: str

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_coordinator(self) -> bool:
        return self.role is Role.COORDINATOR

    def heads(self, department_id: int) -> bool:
        """True for a coordinator one of whose departments this is."""
        return self.is_coordinator and department_id in self.department_ids


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """The SQL condition on `Ticket` for the tickets this person may see."""
    if actor.is_admin:
        return true()
    depts = sorted(actor.department_ids)
    if actor.is_coordinator:
        targets_in_depts = select(Staff.id).where(Staff.home_department_id.in_(depts))
        return or_(
            Ticket.department_id.in_(depts),
            Ticket.target_staff_id.in_(targets_in_depts.scalar_subquery()),
            Ticket.creator_id == actor.id,  # "seen by ... the creator" (access.md)
        )
    if actor.role is Role.USER:
        return or_(
            and_(Ticket.department_id.in_(depts), Ticket.target_staff_id.is_(None)),
            Ticket.target_staff_id == actor.id,
            Ticket.creator_id == actor.id,
        )
    return false()


def can_take(actor: Actor, ticket: Ticket, holder_departments: frozenset[int]) -> bool:
    """A user or coordinator who sees it, while no one else holds it; a coordinator
    may take it over from anyone in their departments (the holder's home or extra ones)."""
    if actor.is_admin:
        return False
    if ticket.holder_id is None or ticket.holder_id == actor.id:
        return True
    return actor.is_coordinator and bool(holder_departments & actor.department_ids)


def can_assign(actor: Actor, ticket: Ticket) -> bool:
    """A coordinator within their departments, an admin anywhere; a user only a
    ticket they hold or created. The caller has already checked visibility."""
    if actor.is_admin or actor.is_coordinator:
        return True
    return actor.id in (ticket.holder_id, ticket.creator_id)


def can_change(actor: Actor, ticket: Ticket) -> bool:
    """prio and due: the creator, the holder, a coordinator of its department, an admin."""
    return (
        actor.is_admin
        or actor.heads(ticket.department_id)
        or actor.id in (ticket.creator_id, ticket.holder_id)
    )


def can_close(actor: Actor, ticket: Ticket) -> bool:
    """The holder, the target person, a coordinator of its department, an admin."""
    return (
        actor.is_admin
        or actor.heads(ticket.department_id)
        or actor.id in (ticket.holder_id, ticket.target_staff_id)
    )


def can_reopen(actor: Actor, ticket: Ticket) -> bool:
    """Those who may close it, and its creator (the customer called back)."""
    return can_close(actor, ticket) or actor.id == ticket.creator_id
