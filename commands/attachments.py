"""Files on tickets in the command core: attaching one (row, history, notifications in the
caller's transaction), and how `show #N` and the web page name them."""

from __future__ import annotations

from dataclasses import dataclass

from commands import workflow
from commands.context import Context
from commands.i18n import t
from storage.attachments import attachments_of
from storage.models import Attachment, Ticket

KB = 1024
MB = 1024 * KB


@dataclass(frozen=True)
class StoredFile:
    """A file already in place under attachments.folder, not yet on any ticket."""

    name: str
    content_type: str
    size: int
    sha256: str
    path: str  # relative to attachments.folder
    source_url: str


def size_text(language: str, size: int) -> str:
    """`830 B`, `14.5 KB`, `1.2 MB`, `10 MB`: binary units, one decimal at most."""
    if size < KB:
        return t(language, "files.size.b", n=size)
    key, value = ("files.size.kb", size / KB) if size < MB else ("files.size.mb", size / MB)
    shown = f"{value:.1f}".removesuffix(".0")
    return t(language, key, n=shown)


async def attach(ctx: Context, ticket: Ticket, stored: StoredFile, caption: str) -> Attachment:
    """Put the stored file on the ticket, through the workflow's write path."""
    attachment = Attachment(
        ticket_id=ticket.id,
        staff_id=ctx.actor.id,
        file_name=stored.name,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        stored_path=stored.path,
        source_url=stored.source_url,
        created_at=ctx.now,
    )
    await workflow.attach(ctx, ticket, attachment, caption)
    return attachment


async def card_lines(ctx: Context, ticket_id: int) -> list[str]:
    """The attachments block of `show #N`: nothing when the ticket has none."""
    found = await attachments_of(ctx.session, ticket_id)
    if not found:
        return []
    lines = [ctx.t("files.head")]
    for attachment, login in found:
        when = ctx.local(attachment.created_at).strftime("%d.%m %H:%M")
        size = size_text(ctx.actor.language, attachment.size)
        line = ctx.t("files.line", name=attachment.file_name, size=size, who=login, at=when)
        lines.append(f"  {line}")
    return lines
