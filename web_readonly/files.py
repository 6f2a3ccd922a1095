"""Files attached to tickets on the web page: the ticket page's list, and the download that
serves a file only to a signed-in person who may see its ticket (anyone else gets the
404 of a file that does not exist)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import hdrs, web
from sqlalchemy.ext.asyncio import AsyncSession

from commands.attachments import size_text
from storage.attachments import attachments_of, visible_attachment
from web_readonly.auth import actor_of
from web_readonly.keys import READ_SESSIONS
from web_readonly.period import local

log = logging.getLogger(__name__)

# attachments.folder; the process sets it (bot/app.py). Without it no file is served.
ATTACHMENTS = web.AppKey("attachments", Path)
_NOT_PLAIN = re.compile(r'[^\x20-\x7e]|["\\%;]')


@dataclass(frozen=True)
class Listed:
    """One line of the ticket page's attachments."""

    href: str
    name: str
    size: str
    who: str
    when: str


async def listed(session: AsyncSession, ticket_id: int, lang: str, tz: ZoneInfo) -> list[Listed]:
    """The attachments of a ticket the reader may see (the view has checked that)."""
    return [
        Listed(
            f"/files/{a.id}", a.file_name, size_text(lang, a.size), login, local(a.created_at, tz)
        )
        for a, login in await attachments_of(session, ticket_id)
    ]


def disposition(name: str) -> str:
    """`attachment` with the name twice: plain ASCII for old browsers, UTF-8 (RFC 6266)."""
    plain = _NOT_PLAIN.sub("_", name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


async def download(request: web.Request) -> web.StreamResponse:
    """GET /files/{id}: the file, always as a download, in the type it was stored with."""
    folder = request.app.get(ATTACHMENTS)
    async with request.app[READ_SESSIONS]() as session:
        found = await visible_attachment(session, actor_of(request), int(request.match_info["id"]))
    if found is None or folder is None:
        raise web.HTTPNotFound()
    path = folder / found.stored_path
    if not path.is_file():
        log.warning("attachment %d: its file %s is missing", found.id, path)
        raise web.HTTPNotFound()
    headers = {
        hdrs.CONTENT_TYPE: found.content_type,
        hdrs.CONTENT_DISPOSITION: disposition(found.file_name),
        # also set on every response (security.py): a file must never be sniffed as a page
        "X-Content-Type-Options": "nosniff",
    }
    return web.FileResponse(path, headers=headers)
