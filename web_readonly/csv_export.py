"""CSV downloads for the read-only web page, streamed in constant memory.

Rows come from an async iterator (typically a streamed database query) and go
out in ~64 KB chunks: `await response.write()` waits for the client to take
each chunk, so a million tickets never sit in memory at once.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from decimal import Decimal
from urllib.parse import quote

from aiohttp import web

log = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
# Excel reads a CSV without it as the local ANSI code page and garbles Cyrillic.
BOM = "\ufeff".encode()
# A spreadsheet runs a cell starting with these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What the plain `filename=` keeps: no quotes, separators, control or path characters.
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9._()+@ -]+")
# Never part of a file name, not even the RFC 5987 one: control and path characters.
_NOT_IN_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


async def stream_csv(
    request: web.Request,
    filename: str,
    header: Sequence[str],
    rows: AsyncIterator[Sequence[object]],
) -> web.StreamResponse:
    """Send `header` and `rows` as a CSV attachment, written while `rows` is read.

    Cells: None is empty, datetimes are `YYYY-MM-DD HH:MM` (in their own zone:
    convert before), dates `YYYY-MM-DD`, numbers as they are; text that a
    spreadsheet would run as a formula gets a leading `'`. A client that goes
    away ends the export quietly. An async generator given as `rows` is closed
    in every case, so that its database cursor is released at once.
    """
    response = web.StreamResponse(
        headers={
            "Content-Disposition": content_disposition(filename),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    response.content_type = "text/csv"
    response.charset = "utf-8"
    try:
        await response.prepare(request)
        await _write_rows(response, header, rows)
        await response.write_eof()
    except ConnectionError:  # aiohttp raises ConnectionResetError on a closed transport
        log.info("CSV export %r stopped: the client went away", filename)
    finally:
        if isinstance(rows, AsyncGenerator):
            await rows.aclose()
    return response


async def _write_rows(
    response: web.StreamResponse, header: Sequence[str], rows: AsyncIterator[Sequence[object]]
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([csv_cell(name) for name in header])
    await response.write(BOM + buffer.getvalue().encode())
    buffer.seek(0)
    buffer.truncate()
    async for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        if buffer.tell() >= CHUNK_SIZE:
            await response.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        await response.write(buffer.getvalue().encode())


def csv_cell(value: object) -> str:
    """How one value reads in the CSV; text is defused against formula injection."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    elif isinstance(value, dt.date):
        return value.isoformat()
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        # Our own numbers: a negative one is not a formula and must stay a number.
        return str(value)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII `filename` every browser reads, and the real one per RFC 5987."""
    name = _NOT_IN_NAME.sub("_", filename).strip(" .") or "export.csv"
    # Accents drop off (é → e); a name left without letters (all Cyrillic) becomes "export".
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = " ".join(_NOT_PLAIN.sub("_", ascii_name).split())
    stem, dot, suffix = ascii_name.rpartition(".")
    if not any(c.isalnum() for c in (stem if dot else suffix)):
        ascii_name = f"export.{suffix}" if dot else "export"
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value
