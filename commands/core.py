"""The command core: a message from a person in, one reply out, in one transaction."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

# the command modules register themselves on import
from commands import admin, customers, planning, settings, tickets, web  # noqa: F401
from commands import help as help_commands  # noqa: F401
from commands.context import Context, CurrentCustomers, DepartmentNames
from commands.errors import CommandError, UsageError
from commands.i18n import t
from commands.notify import Rules
from commands.registry import REGISTRY, Command
from commands.tokens import Tokens, split_command, split_words, tokenize
from storage import queries
from storage.access import Actor
from storage.clock import utcnow
from storage.db import Sessions
from storage.models import InboundMessage, Role

log = logging.getLogger(__name__)

REFUSAL_INTERVAL = timedelta(hours=1)
SYSTEM = Actor(
    id=0,
    login="cli",
    jid="",
    role=Role.ADMIN,
    home_department_id=0,
    department_ids=frozenset(),
    language="en",
)


@dataclass
class _Attempt:
    """What is known of a message so far, for the error reply."""

    language: str
    command: Command | None = None
    queued: int = 0
    refused: bool = False  # a stranger's message


@dataclass(frozen=True)
class Answer:
    """The reply to one message, and whether the command went through: False for an
    error reply (bad input, a refusal, "#N not found", a stranger) or a failure."""

    text: str | None
    ok: bool


def bare_jid(jid: str) -> str:
    return jid.split("/", 1)[0].lower()


class Helpdesk:
    """Runs commands for staff; knows nothing of XMPP.

    `on_outbox` is called after a commit that queued notifications, so the transport
    can deliver them at once."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        language: str = "ru",
        timezone: str = "Europe/Moscow",
        clock: Callable[[], datetime] = utcnow,
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.language = language
        self.timezone = ZoneInfo(timezone)
        self.clock = clock
        self.on_outbox = on_outbox
        self._refused: dict[str, datetime] = {}
        self.departments = DepartmentNames()
        self.rules = Rules(timezone=self.timezone)  # the process sets presence and channels
        self.current_customers = CurrentCustomers()
        # set by the process when LDAP is configured (bot/directory.py)
        self.sync: Callable[[str], Awaitable[str]] | None = None
        self.enroll: Callable[[AsyncSession, str], Awaitable[Actor | None]] | None = None
        # set by the process when the web page is configured (web.public_url, link_lifetime)
        self.web_url: str | None = None
        self.link_lifetime = timedelta(minutes=10)

    async def handle(self, jid: str, text: str, message_key: str | None = None) -> str | None:
        """The reply to one chat message, or None when nothing should be said (a stranger
        refused within the hour, or a message already handled)."""
        return (await self.answer(jid, text, message_key)).text

    async def answer(self, jid: str, text: str, message_key: str | None = None) -> Answer:
        """`handle`, telling also whether the command went through (for a form, which
        shows an error differently from a result)."""
        attempt = _Attempt(self.language)
        try:
            reply = await self._handle(bare_jid(jid), text, message_key, attempt)
        except CommandError as exc:
            return Answer(self._error_text(attempt, exc), ok=False)
        except Exception:
            ref = secrets.token_hex(3)
            log.exception("command failed (ref %s)", ref)
            return Answer(t(attempt.language, "internal_error", ref=ref), ok=False)
        if attempt.queued and self.on_outbox is not None:
            self.on_outbox()
        return Answer(reply, ok=not attempt.refused)

    async def _handle(
        self, jid: str, text: str, message_key: str | None, attempt: _Attempt
    ) -> str | None:
        now = self.clock()
        async with self.sessions() as session, session.begin():
            actor = await queries.actor_for_jid(session, jid, self.language)
            if actor is None and self.enroll is not None:
                actor = await self.enroll(session, jid)
            if actor is None:
                attempt.refused = True
                return self._refuse(jid, now)
            attempt.language = actor.language
            if message_key is not None and not await _first_time(session, message_key, now):
                log.info("message %s from %s handled already", message_key, jid)
                return None
            ctx = Context(
                session,
                actor,
                now,
                self.timezone,
                self.language,
                self.departments,
                current_customers=self.current_customers,
                sync=self.sync,
                rules=self.rules,
                web_url=self.web_url,
                link_lifetime=self.link_lifetime,
            )
            reply = await self._dispatch(ctx, text, attempt)
            attempt.queued = ctx.queued
        if ctx.chosen_customer is not None:  # committed: now it is the chat's customer
            self.current_customers.remember(actor.id, ctx.chosen_customer, now)
        if ctx.then is not None:  # work that writes through sessions of its own
            return await ctx.then()
        return reply

    async def _dispatch(self, ctx: Context, text: str, attempt: _Attempt) -> str:
        word, rest = split_command(text)
        if re.fullmatch(r"#\d+[,.:;]?", word):
            word, rest = "comment", f"{word} {rest}"
        if not word:
            raise CommandError("help_hint")
        command = REGISTRY.find(word)
        if command is not None and not command.allowed(ctx.actor.role):
            raise CommandError("not_allowed_command", word=word)
        if command is None:
            suggestion = REGISTRY.suggest(word, ctx.actor.role)
            if suggestion:
                raise CommandError("did_you_mean", word=word, suggestion=suggestion)
            raise CommandError("unknown_command", word=word)
        attempt.command = command
        tokens = Tokens(words=split_words(rest)) if command.raw else tokenize(rest, ctx.today)
        return await command.handler(ctx, tokens)

    def _refuse(self, jid: str, now: datetime) -> str | None:
        """One polite refusal an hour per stranger, saying nothing of the helpdesk."""
        last = self._refused.get(jid)
        if last is not None and now - last < REFUSAL_INTERVAL:
            return None
        self._refused[jid] = now
        if len(self._refused) > 10_000:  # a flood of strangers must not grow memory forever
            self._refused = {
                j: at for j, at in self._refused.items() if now - at < REFUSAL_INTERVAL
            }
        return t(self.language, "stranger")

    def _error_text(self, attempt: _Attempt, exc: CommandError) -> str:
        text = t(attempt.language, exc.key, **exc.params)
        if exc.key in ("unknown_command", "did_you_mean"):
            return f"{text} {t(attempt.language, 'help_hint')}"
        if isinstance(exc, UsageError) and attempt.command is not None:
            return f"{text} {t(attempt.language, 'usage', usage=attempt.command.usage)}"
        return text

    async def run_admin(self, command: str, words: list[str]) -> str:
        """An admin command from the command line, as a built-in admin; raises
        CommandError (with the usage in its text) when refused."""
        found = REGISTRY.find(command)
        assert found is not None and found.raw
        attempt = _Attempt("en", found)
        async with self.sessions() as session, session.begin():
            ctx = Context(session, SYSTEM, self.clock(), self.timezone, "en", self.departments)
            try:
                return await found.handler(ctx, Tokens(words=words))
            except CommandError as exc:
                raise CommandError("cli", text=self._error_text(attempt, exc)) from exc

    async def prune_handled(self, older_than: timedelta = timedelta(days=30)) -> None:
        """Forget handled-message keys old enough that no server would redeliver them."""
        async with self.sessions() as session, session.begin():
            cutoff = self.clock() - older_than
            await session.execute(delete(InboundMessage).where(InboundMessage.received_at < cutoff))


async def _first_time(session: AsyncSession, key: str, now: datetime) -> bool:
    """Record a message key; False when it was recorded before (a redelivery).

    One INSERT ... ON CONFLICT DO NOTHING, as it runs for every message."""
    values = {"key": key[:255], "received_at": now}  # as stored: a longer key is cut
    dialect = session.bind.dialect.name if session.bind is not None else ""
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    statement = insert(InboundMessage).values(values).on_conflict_do_nothing()
    result = await session.execute(statement.returning(InboundMessage.key))
    return result.scalar() is not None
