"""Photos and files from phones: a file uploaded to the sender's server (XEP-0363) and
announced with a XEP-0066 OOB link is downloaded within the attachments limits, stored
under its checksum and attached to the ticket the message names."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from slixmpp.stanza import Message
from yarl import URL

from bot.config import AttachmentsConfig, XmppConfig
from bot.replies import oob_url, quoted_ticket, replied_ticket, split_quote
from commands.attachments import StoredFile, attach, size_text
from commands.context import Context
from commands.core import Helpdesk
from commands.errors import CommandError, NotFound, UsageError
from commands.i18n import t
from commands.lookup import one_ticket
from commands.registry import REGISTRY
from commands.tokens import Tokens, normalize
from storage import queries
from storage.access import Actor
from storage.attachments import attached_from
from storage.models import Ticket

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
PARTIAL = ".partial-"  # the temporary files of downloads in progress, in the folder
SIZES = ("size", "limit")  # parameters of the replies that are byte counts
_NUMBER = re.compile(r"#(\d{1,9})[,.:;]?")  # as commands/tokens.py reads `#N`
_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")
MAX_NAME = 255


def carries_file(msg: Message) -> bool:
    """Whether the message announces a file (its XEP-0066 OOB link), as clients send an
    upload."""
    return oob_url(msg) is not None


def read_body(body: str) -> tuple[set[int], str]:
    """The ticket numbers a message's own text names, and that text without links and
    numbers (the caption). Quoted lines (`> ...`, a reply's fallback) are left to
    bot/replies.py."""
    numbers: set[int] = set()
    lines = []
    for line in normalize(body).splitlines():
        if line.lstrip().startswith(">"):
            continue
        words = []
        for word in line.split():
            if found := _NUMBER.fullmatch(word):
                numbers.add(int(found[1]))
            elif "://" not in word:
                words.append(word)
        lines.append(" ".join(words))
    return numbers, "\n".join(line for line in lines if line)


def _named(previous: str) -> set[int]:
    """The tickets the previous message named: its own `#N`, else a quoted `> #N` (it
    answered a notification)."""
    numbers, _ = read_body(previous)
    quoted = quoted_ticket(split_quote(previous)[0])
    return numbers or ({quoted} if quoted is not None else set())


def file_name(url: URL) -> str:
    """The name the link ends with, made safe to show and to offer for saving."""
    name = _UNSAFE_IN_NAME.sub("_", url.name).strip(" .") or "file"
    if len(name) > MAX_NAME:
        stem, dot, suffix = name.rpartition(".")
        keep = MAX_NAME - len(suffix) - 1
        name = f"{stem[:keep]}.{suffix}" if dot and 0 < len(suffix) < 16 else name[:MAX_NAME]
    return name


@dataclass
class _Attempt:
    """What is known of a file message so far, for the reply: the sender's language."""

    language: str


class FileRefused(Exception):
    """A download that cannot be attached: a message key of commands.i18n (its `#N`
    is added by the receiver) and its parameters; byte counts are formatted later."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Partial:
    """A whole download in a temporary file of the folder."""

    temp: Path
    size: int
    sha256: str
    content_type: str


class FileStore:
    """The attachments folder: a file is written to a temporary name, then renamed to
    `ab/abcdef...` (its SHA-256) in one step, so a file is either whole or absent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # left by a process that stopped mid-download; none is in progress yet
        for leftover in folder.glob(f"{PARTIAL}*"):
            leftover.unlink(missing_ok=True)

    async def receive(
        self, content: aiohttp.StreamReader, limit: int, content_type: str
    ) -> Partial:
        """Stream the body into a temporary file, stopping once it passes `limit`."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=PARTIAL, dir=self.folder)
        temp = Path(name)
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(handle, "wb") as out:
                async for chunk in content.iter_chunked(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise FileRefused("files.too_large_stream", limit=limit)
                    digest.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
        except BaseException:  # a refusal, a broken download, a stop: nothing is left
            _discard(temp)
            raise
        return Partial(temp, size, digest.hexdigest(), content_type)

    def place(self, partial: Partial) -> tuple[str, bool]:
        """Move the download to its checksum's name; returns that path (relative to the
        folder) and whether it is new (False: the same content was stored before)."""
        relative = f"{partial.sha256[:2]}/{partial.sha256}"
        final = self.folder / relative
        try:
            final.parent.mkdir(mode=0o700, exist_ok=True)
            if final.exists():
                partial.temp.unlink()
                return relative, False
            os.replace(partial.temp, final)
        except BaseException:
            partial.temp.unlink(missing_ok=True)
            raise
        return relative, True

    def remove(self, relative: str) -> None:
        (self.folder / relative).unlink(missing_ok=True)


class Downloader:
    """Fetches a link only where it points, only from the upload hosts: http(s), no
    redirects, within the size limit, the accepted types and the timeout."""

    def __init__(self, config: AttachmentsConfig, xmpp: XmppConfig) -> None:
        self.config = config
        self.domain = xmpp.jid.rpartition("@")[2].lower()
        self.hosts = [_host_port(entry) for entry in config.hosts]
        address = xmpp.host_port()
        self.server = address[0].lower() if address is not None else None

    def allowed(self, url: URL) -> bool:
        """attachments.hosts; by default the bot's XMPP domain and its subdomains, and
        the host of xmpp.server: the servers the bot trusts with its password already."""
        if url.scheme not in ("http", "https") or not url.host or url.user or url.password:
            return False
        host = url.host.lower().rstrip(".")
        if not self.hosts:
            return host in (self.domain, self.server) or host.endswith(f".{self.domain}")
        return any(host == h and port in (None, url.port) for h, port in self.hosts)

    def accepts(self, content_type: str) -> bool:
        accepted = {c.lower() for c in self.config.content_types}
        major = content_type.partition("/")[0]
        return content_type in accepted or f"{major}/*" in accepted

    async def __call__(self, link: str, store: FileStore) -> Partial:
        try:
            url = URL(link)
        except ValueError:
            raise FileRefused("files.bad_url", url=link[:80]) from None
        if not self.allowed(url):
            raise FileRefused("files.bad_url", url=f"{url.scheme}://{url.host or ''}")
        seconds = self.config.timeout.total_seconds()
        timeout = aiohttp.ClientTimeout(total=seconds)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.get(url, allow_redirects=False) as response,
            ):
                content_type = self._checked(response)
                return await store.receive(response.content, self.config.max_bytes, content_type)
        except TimeoutError:
            raise FileRefused("files.timeout", seconds=round(seconds)) from None
        except aiohttp.ClientError as exc:
            log.warning("download of %s failed: %s", url.with_query(None), type(exc).__name__)
            raise FileRefused("files.unreachable") from None

    def _checked(self, response: aiohttp.ClientResponse) -> str:
        """The response's content type, once status, length and type are acceptable."""
        if response.status != 200:
            raise FileRefused("files.http_error", status=f"HTTP {response.status}")
        length = response.content_length
        if length is not None and length > self.config.max_bytes:
            raise FileRefused("files.too_large", size=length, limit=self.config.max_bytes)
        content_type = response.content_type.lower()
        if not self.accepts(content_type):
            allowed = ", ".join(self.config.content_types) or "-"
            raise FileRefused("files.refused_type", type=content_type, allowed=allowed)
        return content_type


def _discard(path: Path) -> None:
    """Remove a file of ours at once, even while the task is being cancelled (a
    thread would outlive the cancellation): one unlink of a local file is quick."""
    path.unlink(missing_ok=True)


def _host_port(entry: str) -> tuple[str, int | None]:
    url = URL(f"//{entry}")
    return (url.host or entry).lower().rstrip("."), url.explicit_port


class FileReceiver:
    """The bot's `file_handler`: attaches the file of one message to its ticket and
    answers one line naming `#N`. The ticket is the one the message replies to, else
    the `#N` in its text, else the `#N` of the sender's previous message; the sender
    must be allowed to comment on it, by the same rules and answers as `#N <text>`."""

    def __init__(
        self,
        core: Helpdesk,
        config: AttachmentsConfig,
        xmpp: XmppConfig,
        previous_body: Mapping[str, str],
    ) -> None:
        self.core = core
        self.bot_jid = xmpp.jid
        self.store = FileStore(Path(config.folder))
        self.download = Downloader(config, xmpp)
        self.previous_body = previous_body  # the bot's, by sender: see _ticket_of
        self._placing = asyncio.Lock()  # one rename-and-commit at a time: see _attach

    async def __call__(self, msg: Message, sender: str) -> str | None:
        link = oob_url(msg)
        if link is None:
            return None
        attempt = _Attempt(self.core.language)
        try:
            return await self._receive(msg, sender.lower(), link, attempt)
        except CommandError as exc:
            return t(attempt.language, exc.key, **exc.params)
        except Exception:
            ref = secrets.token_hex(3)
            log.exception("attaching a file failed (ref %s)", ref)
            return t(attempt.language, "internal_error", ref=ref)

    async def _receive(self, msg: Message, sender: str, link: str, attempt: _Attempt) -> str | None:
        actor = await self._actor(sender)
        if actor is None:  # the core's polite refusal to a stranger; an empty text runs nothing
            return await self.core.handle(sender, "")
        attempt.language = actor.language
        number, caption = await self._ticket_of(msg, sender)
        async with self._command(sender, number) as ctx:
            ticket = await self._commentable(ctx, number, for_update=False)
            if already := await attached_from(ctx.session, ticket.id, link):
                return ctx.t("files.already", name=already.file_name, n=number)
        # no transaction is held while the file travels: SQLite's writers would wait on it
        try:
            partial = await self.download(link, self.store)
        except FileRefused as refused:
            params = {
                k: size_text(actor.language, v) if k in SIZES and isinstance(v, int) else v
                for k, v in refused.params.items()
            }
            raise CommandError(refused.key, n=number, **params) from None
        stored = await self._attach(partial, sender, number, link, caption)
        size = size_text(actor.language, stored.size)
        return t(actor.language, "files.attached", name=stored.name, size=size, n=number)

    async def _actor(self, sender: str) -> Actor | None:
        """The staff member, enrolled on first contact as for a command (LDAP group)."""
        core = self.core
        async with core.sessions() as session, session.begin():
            actor = await queries.actor_for_jid(session, sender, core.language)
            if actor is None and core.enroll is not None:
                actor = await core.enroll(session, sender)
            return actor

    async def _ticket_of(self, msg: Message, sender: str) -> tuple[int, str]:
        """The ticket number and the caption; CommandError when no ticket is named."""
        replied = await replied_ticket(self.core.sessions, sender, msg, bot_jid=self.bot_jid)
        if replied is not None:
            return replied.ticket, read_body(replied.text)[1]
        numbers, caption = read_body(str(msg["body"]))
        if not numbers:
            numbers = _named(self.previous_body.get(sender, ""))
        if len(numbers) > 1:
            raise UsageError("one_number")
        if not numbers:
            raise CommandError("files.which_ticket")
        return numbers.pop(), caption

    async def _commentable(self, ctx: Context, number: int, *, for_update: bool) -> Ticket:
        """The ticket, as `#N <text>` finds it: not found when it may not be seen."""
        comment = REGISTRY.find("comment")
        if comment is not None and not comment.allowed(ctx.actor.role):
            raise CommandError("not_allowed_command", word="comment")
        return await one_ticket(ctx, Tokens(numbers=[number]), for_update=for_update)

    async def _attach(
        self, partial: Partial, sender: str, number: int, link: str, caption: str
    ) -> StoredFile:
        """Rename the download into place and record it; if the record fails, a file
        this attempt stored is removed again. One at a time, so no attempt removes a
        file another one has just recorded."""
        url = URL(link)
        async with self._placing:
            path, created = self.store.place(partial)
            stored = StoredFile(
                file_name(url), partial.content_type, partial.size, partial.sha256, path, link
            )
            try:
                async with self._command(sender, number) as ctx:
                    ticket = await self._commentable(ctx, number, for_update=True)
                    await attach(ctx, ticket, stored, caption)
                    queued = ctx.queued
            except BaseException:
                if created:
                    self.store.remove(path)
                raise
        if queued and self.core.on_outbox is not None:
            self.core.on_outbox()
        return stored

    @contextlib.asynccontextmanager
    async def _command(self, sender: str, number: int) -> AsyncIterator[Context]:
        """A transaction with the sender's command context; an account switched off
        since the file message arrived sees no ticket any more."""
        core = self.core
        async with core.sessions() as session, session.begin():
            actor = await queries.actor_for_jid(session, sender, core.language)
            if actor is None:
                raise NotFound(number)
            yield Context(
                session,
                actor,
                core.clock(),
                core.timezone,
                core.language,
                core.departments,
                rules=core.rules,
                web_url=core.web_url,
                link_lifetime=core.link_lifetime,
            )
