"""`helpdesk import ...`: the customer base from LDAP and the phone book, and the review
list of ambiguous phone-book rows. Each applies pending migrations first."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path

from bot.config import Config
from storage import migrate
from storage.db import Sessions, make_engine, make_sessions


class ImportFailed(Exception):
    """One line for the person at the terminal; exit code 1 (2 when `usage` is set)."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@asynccontextmanager
async def _sessions(config: Config) -> AsyncIterator[Sessions]:
    engine = make_engine(config.database.url)
    try:
        await migrate.upgrade(engine)
        yield make_sessions(engine)
    finally:
        await engine.dispose()


def _counts(counts: object, started: float, dry_run: bool) -> str:
    fields = asdict(counts)  # type: ignore[call-overload]
    text = ", ".join(f"{name} {n}" for name, n in fields.items() if isinstance(n, int))
    note = " (dry run: nothing was changed)" if dry_run else ""
    return f"{text}; {time.monotonic() - started:.1f} s{note}"


async def import_ldap(config: Config, *, dry_run: bool) -> str:
    from importers.ldap import DirectoryError, run_ldap_import

    if config.ldap is None:
        raise ImportFailed("bot.yaml has no ldap: section", usage=True)
    started = time.monotonic()
    async with _sessions(config) as sessions:
        progress(f"reading the directory at {config.ldap.url} ...")
        try:
            counts = await run_ldap_import(config, sessions, dry_run=dry_run)
        except DirectoryError as exc:
            raise ImportFailed(f"LDAP: {exc}") from exc
    return _counts(counts, started, dry_run)


async def import_phonebook(config: Config, path: Path, *, dry_run: bool) -> str:
    from importers.merge import import_phonebook as merge_phonebook
    from importers.phonebook import PhonebookError

    started = time.monotonic()
    async with _sessions(config) as sessions:
        progress(f"reading {path.name} and merging it with the customers ...")
        try:
            counts = await merge_phonebook(
                sessions, path, config.phonebook.columns, dry_run=dry_run, progress=progress
            )
        except (PhonebookError, OSError) as exc:
            raise ImportFailed(f"{path.name}: {exc}", usage=True) from exc
    for bad in counts.bad_rows:
        progress(f"{path.name}:{bad.line}: skipped: {bad.reason}")
    return _counts(counts, started, dry_run)


async def review(config: Config) -> str:
    from importers.merge import open_reviews

    async with _sessions(config) as sessions:
        reviews = await open_reviews(sessions)
    if not reviews:
        return "No phone-book rows wait for a decision."
    lines = [f"{len(reviews)} phone-book rows wait for a decision "
             "(helpdesk import resolve ROW CUSTOMER|new):"]  # fmt: skip
    for row in reviews:
        where = ", ".join(v for v in (row.phone, row.room) if v)
        lines.append(
            f"  row {row.id}: {row.full_name} ({where or 'no phone or room'}) from "
            f"{row.source}:{row.line} - candidates: {row.candidates}"
        )
    return "\n".join(lines)


async def resolve(config: Config, row: int, decision: str) -> str:
    from importers.merge import ReviewError, resolve_review

    async with _sessions(config) as sessions:
        try:
            return await resolve_review(sessions, row, decision)
        except ReviewError as exc:
            raise ImportFailed(str(exc), usage=True) from exc
