"""Read queries on the files attached to tickets; each takes the session first."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.access import Actor, visible_to
from storage.models import Attachment, Staff, Ticket


async def attachments_of(session: AsyncSession, ticket_id: int) -> list[tuple[Attachment, str]]:
    """A ticket's files, oldest first, each with the login of who sent it (the caller
    has loaded the ticket through `visible_ticket` already)."""
    rows = await session.execute(
        select(Attachment, Staff.login)
        .join(Staff, Staff.id == Attachment.staff_id)
        .where(Attachment.ticket_id == ticket_id)
        .order_by(Attachment.id)
    )
    return [(attachment, login) for attachment, login in rows]


async def visible_attachment(
    session: AsyncSession, actor: Actor, attachment_id: int
) -> Attachment | None:
    """The file if this person may see its ticket; None both when hidden and when missing."""
    return await session.scalar(
        select(Attachment)
        .join(Ticket, Ticket.id == Attachment.ticket_id)
        .where(Attachment.id == attachment_id, visible_to(actor))
    )


async def attached_from(session: AsyncSession, ticket_id: int, url: str) -> Attachment | None:
    """The file of this ticket downloaded from `url`, if any: a message the server
    delivers twice attaches its file once."""
    return await session.scalar(
        select(Attachment)
        .where(Attachment.ticket_id == ticket_id, Attachment.source_url == url)
        .limit(1)
    )
