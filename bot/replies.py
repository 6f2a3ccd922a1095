"""Which ticket a chat message answers: a XEP-0461 reply to one of its notifications, a
quoted `> ` line naming #N, or a message in the ticket's XMPP thread (docs/commands.md).

The parsing is pure; only `replied_ticket` (and `notice_ticket`, which it calls) reads the
database, to check that a replied-to message id is a notification sent to that sender."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from xml.etree.ElementTree import Element

from slixmpp.stanza import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import commands.core  # noqa: F401  (importing it registers every command word)
from commands.registry import REGISTRY
from commands.tokens import split_command
from storage.db import Sessions
from storage.models import Outbox

REPLY_NS = "urn:xmpp:reply:0"  # XEP-0461
REPLY = f"{{{REPLY_NS}}}reply"
FALLBACK = "{urn:xmpp:fallback:0}fallback"  # XEP-0428
FALLBACK_BODY = "{urn:xmpp:fallback:0}body"
CORRECTION = "{urn:xmpp:message-correct:0}replace"  # XEP-0308
OOB_URL = "{jabber:x:oob}x/{jabber:x:oob}url"  # XEP-0066
THREAD_PREFIX = "helpdesk-ticket-"

Via = Literal["reply", "quote", "thread"]

_NUMBER = re.compile(r"(?<![\w#№])[#№](\d{1,9})(?!\w)")  # `#N` as a word, as tokens read it
_COMMENT_WORD = re.compile(r"#\d+[,.:;]?")  # commands/core.py: `#N text` is a comment
_THREAD = re.compile(re.escape(THREAD_PREFIX) + r"(\d{1,9})")
# the commands that act on one ticket: a reply runs them on its ticket (`Replied.command`)
TICKET_COMMANDS = frozenset({"take", "close", "reopen", "show", "prio", "due", "assign"})


def ticket_thread(number: int) -> str:
    """The XMPP `<thread>` of every chat notification about ticket #number.

    A plain `helpdesk-ticket-N`: the same for the ticket's whole life, across retries and
    restarts, as it is made from the notification itself. It is no secret: a message in
    that thread is read as `#N <text>`, with the sender's own rights."""
    return f"{THREAD_PREFIX}{number}"


def thread_ticket(thread: str | None) -> int | None:
    """The ticket number of a ticket thread (`ticket_thread`); None for any other."""
    found = _THREAD.fullmatch(thread.strip()) if thread else None
    return int(found.group(1)) if found else None


def is_correction(msg: Message) -> bool:
    """A XEP-0308 correction (`<replace id=.../>`) of a message sent before."""
    return msg.xml.find(CORRECTION) is not None


def oob_url(msg: Message) -> str | None:
    """The URL of a XEP-0066 `<x xmlns="jabber:x:oob">` (a file shared by HTTP upload)."""
    url = msg.xml.find(OOB_URL)
    text = (url.text or "").strip() if url is not None else ""
    return text or None


@dataclass(frozen=True)
class ChatLine:
    """What of a chat message tells which ticket it answers (`read_stanza` makes it)."""

    body: str
    reply_id: str | None = None  # XEP-0461 <reply id=...>: the replied-to message's id
    reply_to: str | None = None  # its `to`: the author of the replied-to message
    fallback: tuple[tuple[int, int], ...] = ()  # XEP-0428: body ranges quoting it
    thread: str | None = None


def read_stanza(msg: Message) -> ChatLine:
    """The body, the XEP-0461 reply with its XEP-0428 fallback ranges, and the thread."""
    body = str(msg["body"])
    thread = str(msg["thread"]) or None
    reply = msg.xml.find(REPLY)
    if reply is None:
        return ChatLine(body, thread=thread)
    ranges = _fallback_ranges(msg.xml, len(body))
    return ChatLine(body, reply.get("id") or None, reply.get("to") or None, ranges, thread)


def _fallback_ranges(xml: Element, length: int) -> tuple[tuple[int, int], ...]:
    """The reply's fallback parts of the body, in characters (code points, as XEP-0426
    counts them). A fallback without a `<body/>`, or one without start and end, covers
    the whole body; a range that does not fit the body is left out."""
    ranges: list[tuple[int, int]] = []
    for fallback in xml.findall(FALLBACK):
        if fallback.get("for") != REPLY_NS:
            continue
        parts = fallback.findall(FALLBACK_BODY) or [Element(FALLBACK_BODY)]
        for part in parts:
            start, end = part.get("start"), part.get("end")
            if start is None and end is None:
                ranges.append((0, length))
            elif (start or "").isdigit() and (end or "").isdigit():
                first, last = int(start or 0), int(end or 0)
                if first < last <= length:
                    ranges.append((first, last))
    return tuple(ranges)


def without_fallback(line: ChatLine) -> str:
    """The body without its XEP-0428 fallback (the quote of the replied-to message), as
    a client that knows XEP-0461 shows it."""
    keep = [True] * len(line.body)
    for start, end in line.fallback:
        keep[start:end] = [False] * (end - start)
    return "".join(char for char, kept in zip(line.body, keep, strict=True) if kept)


def split_quote(text: str) -> tuple[list[str], str]:
    """The leading quoted lines (`> ...`, `>> ...`; their marks taken off) and the text
    after them, stripped. A text that does not start with a quote has no quoted lines."""
    lines = text.strip().splitlines()
    count = 0
    while count < len(lines) and lines[count].lstrip().startswith(">"):
        count += 1
    quoted = [line.lstrip().lstrip(">").strip() for line in lines[:count]]
    return quoted, "\n".join(lines[count:]).strip()


def quoted_ticket(quoted: Sequence[str]) -> int | None:
    """The first `#N` in the quoted lines, or None."""
    for line in quoted:
        found = _NUMBER.search(line)
        if found:
            return int(found.group(1))
    return None


def is_command(text: str) -> bool:
    """Whether `text` starts with a command word (any alias) or `#N`, as the core reads it."""
    word, _ = split_command(text)
    return bool(word) and (REGISTRY.find(word) is not None or bool(_COMMENT_WORD.fullmatch(word)))


def own_text(line: ChatLine) -> str:
    """The text to run as a command when the message answers no ticket: the body, less
    the fallback of a XEP-0461 reply (to a message that is not a notification for this
    sender)."""
    return without_fallback(line) if line.reply_id is not None else line.body


@dataclass(frozen=True)
class Replied:
    """A message that answers ticket #ticket; `text` is the sender's own words (the
    quote of the notification taken off), `via` how it named the ticket."""

    ticket: int
    text: str
    via: Via

    @property
    def command(self) -> str:
        """What it stands for: a command on the ticket when the text is `/word ...` (any
        of the command's words: `/close roller replaced`, `/закрыть`) or that word alone
        (`take`, `готово`), for a command that acts on one ticket; else a comment,
        `#N <text>`. So a field worker closes the ticket of a notification by replying
        `/close done`, while a reply that merely starts with such a word is a comment."""
        verb = ticket_verb(self.text)
        if verb is not None:
            name, rest = verb
            return f"{name} #{self.ticket} {rest}".rstrip()
        return f"#{self.ticket} {self.text}"


def ticket_verb(text: str) -> tuple[str, str] | None:
    """(command, the rest) when `text` is `/word ...` or a lone word of a command in
    TICKET_COMMANDS; None for anything else, a comment."""
    stripped = text.strip()
    word, rest = split_command(stripped)
    command = REGISTRY.find(word) if word else None
    if command is None or command.name not in TICKET_COMMANDS:
        return None
    if stripped.startswith("/") or not rest.strip():
        return command.name, rest.strip()
    return None


def _bare(jid: str) -> str:
    return jid.split("/", 1)[0].strip().lower()


async def notice_ticket(session: AsyncSession, sender: str, message_id: str) -> int | None:
    """The ticket number of the chat notification whose id (its outbox key) is
    `message_id`, when it was sent to `sender` (a JID); None for any other id: unknown,
    sent to someone else, or about no ticket."""
    row = (
        await session.execute(
            select(Outbox.address, Outbox.ticket_id).where(
                Outbox.key == message_id, Outbox.channel == "xmpp"
            )
        )
    ).first()
    if row is None or row.ticket_id is None or _bare(row.address) != _bare(sender):
        return None
    return int(row.ticket_id)


async def replied_ticket(
    sessions: Sessions | None,
    sender: str,
    message: Message | ChatLine,
    *,
    bot_jid: str | None = None,
) -> Replied | None:
    """The ticket a chat message from `sender` (a JID, bare or full) answers, or None.

    In this order:
    1. A XEP-0461 `<reply id=...>` decides alone: it answers #N when the id is that of a
       chat notification about #N sent to this sender (read from `sessions`; with None,
       never), and its `to`, when given, is `bot_jid` (when given). Its text is the body
       less the XEP-0428 fallback and any leading `> ` lines. A reply to anything else
       answers no ticket, even if it quotes one.
    2. Leading `> ` lines naming `#N` (the first one named): the text after them.
    3. A `<thread>` that is a ticket's (`ticket_thread`): the body (less a leading quote),
       unless it starts with a command word or `#N` (clients that follow XEP-0201 keep the
       last thread on every later message, so a command there stays a command), but for
       `/close ...` or a lone `take` (`ticket_verb`), which act on the thread's ticket.

    Only the number is resolved: whether the sender may see or change the ticket is the
    command core's business (run `Replied.command` through it)."""
    line = message if isinstance(message, ChatLine) else read_stanza(message)
    if line.reply_id is not None:
        return await _replied_to_notice(sessions, sender, line, bot_jid)
    quoted, rest = split_quote(line.body)
    number = quoted_ticket(quoted)
    if number is not None:
        return Replied(number, rest, "quote")
    number = thread_ticket(line.thread)
    if number is not None and (ticket_verb(rest) is not None or not is_command(rest)):
        return Replied(number, rest, "thread")
    return None


async def _replied_to_notice(
    sessions: Sessions | None, sender: str, line: ChatLine, bot_jid: str | None
) -> Replied | None:
    if sessions is None or line.reply_id is None:
        return None
    if line.reply_to and bot_jid and _bare(line.reply_to) != _bare(bot_jid):
        return None  # a reply to someone else's message
    async with sessions() as session:
        number = await notice_ticket(session, sender, line.reply_id)
    if number is None:
        return None
    _, text = split_quote(without_fallback(line))
    return Replied(number, text, "reply")
