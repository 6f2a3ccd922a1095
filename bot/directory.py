"""The directory inside `helpdesk run`: the `sync` command, the nightly re-sync with a
summary to the admins, and the staff whitelist (staff-group members enrolled on first
contact)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from commands.i18n import t
from importers.ldap import (
    DirectoryError,
    ImportCounts,
    enroll_staff,
    run_ldap_import,
    staff_group_members,
)
from storage import queries
from storage.access import Actor
from storage.clock import utcnow
from storage.db import Sessions
from storage.models import Department, Outbox, Role, Staff

log = logging.getLogger(__name__)


class Directory:
    def __init__(
        self, config: Config, sessions: Sessions, clock: Callable[[], datetime] = utcnow
    ) -> None:
        assert config.ldap is not None
        self.config = config
        self.ldap = config.ldap
        self.sessions = sessions
        self.clock = clock
        self.members: set[str] = set()
        self.domain = config.xmpp.jid.split("@", 1)[1].lower()
        self._running = asyncio.Lock()

    async def refresh_members(self) -> None:
        """Read the staff group again (at start and after every sync)."""
        if not self.ldap.staff_group:
            return
        try:
            self.members = await asyncio.to_thread(staff_group_members, self.ldap)
        except DirectoryError as exc:
            log.warning("could not read the staff group: %s", exc)

    async def _import(self) -> ImportCounts | DirectoryError:
        async with self._running:  # a nightly run and a `sync` never overlap
            try:
                counts = await run_ldap_import(self.config, self.sessions)
            except DirectoryError as exc:
                log.warning("directory sync failed: %s", exc)
                return exc
            await self.refresh_members()
        log.info("directory sync: %s", counts)
        return counts

    @staticmethod
    def _summary(result: ImportCounts | DirectoryError, language: str) -> str:
        if isinstance(result, DirectoryError):
            return t(language, "sync_failed", error=str(result))
        return t(language, "sync_done", **asdict(result))

    async def sync(self, language: str) -> str:
        """Import now; the summary in `language` (a failure is said, not raised)."""
        return self._summary(await self._import(), language)

    async def nightly(self) -> None:
        """The scheduled re-sync; each active admin gets its summary in chat."""
        result = await self._import()
        now = self.clock()
        async with self.sessions() as session, session.begin():
            admins = (await session.scalars(
                select(Staff).where(Staff.role == Role.ADMIN.value, Staff.active)
            )).all()  # fmt: skip
            for admin in admins:
                text = self._summary(result, admin.language or self.config.language)
                session.add(Outbox(
                    key=f"sync:{now:%Y-%m-%dT%H:%M:%S}:{admin.id}", channel="xmpp",
                    recipient_id=admin.id, address=admin.jid, text=text,
                    created_at=now, next_attempt_at=now,
                ))  # fmt: skip

    async def enroll(self, session: AsyncSession, jid: str) -> Actor | None:
        """A staff-group member's first message makes them staff (issue: whitelist)."""
        short = self.ldap.staff_department
        if not self.members or not short:
            return None
        department = await session.scalar(
            select(Department.id).where(Department.short == short.lower())
        )
        if department is None:
            log.warning("ldap.staff_department %r is not a department", short)
            return None
        staff = await enroll_staff(
            session, jid, xmpp_domain=self.domain, members=self.members,
            default_department_id=department,
        )  # fmt: skip
        if staff is None:
            return None
        log.info("enrolled %s as staff from the directory's staff group", staff.login)
        return await queries.actor_for_jid(session, staff.jid, self.config.language)
