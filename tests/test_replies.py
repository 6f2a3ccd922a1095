"""Replies that land on tickets (bot/replies.py) and the short first line of every
notification (commands/notify.py), without XMPP: the parsing of XEP-0461 replies with
their XEP-0428 fallback, quoted `> ` lines and ticket threads; which replied-to ids count
(only a notification sent to the sender: someone else's id gives nothing away); and the
comment going through the same core path as `#N <text>`."""

from __future__ import annotations

import pytest
from dialog import DOMAIN, DialogBot, chat_key
from slixmpp.stanza import Message
from slixmpp.xmlstream import ET
from sqlalchemy import select

from bot.replies import (
    ChatLine,
    Replied,
    is_command,
    is_correction,
    oob_url,
    own_text,
    quoted_ticket,
    read_stanza,
    replied_ticket,
    split_quote,
    thread_ticket,
    ticket_thread,
    without_fallback,
)
from commands.notify import notice_text, priority_mark, short_name, shorten
from storage.models import Customer, TicketEvent

BOT = "helpdesk@example.test"
NOTICE = "#1 !high printer jams — from @operator\nNew for @it [high]"


def stanza(body: str, *, thread: str = "") -> Message:
    msg = Message()
    msg["type"] = "chat"
    msg["body"] = body
    if thread:
        msg["thread"] = thread
    return msg


def reply_stanza(body: str, reply_id: str, fallback_end: int | None, to: str = BOT) -> Message:
    """A XEP-0461 reply as Conversations or Gajim sends it: the quote first, marked as the
    fallback for urn:xmpp:reply:0."""
    msg = stanza(body)
    msg.xml.append(ET.Element("{urn:xmpp:reply:0}reply", {"id": reply_id, "to": to}))
    if fallback_end is not None:
        fallback = ET.Element("{urn:xmpp:fallback:0}fallback", {"for": "urn:xmpp:reply:0"})
        ET.SubElement(
            fallback, "{urn:xmpp:fallback:0}body", {"start": "0", "end": str(fallback_end)}
        )
        msg.xml.append(fallback)
    return msg


# --- parsing --------------------------------------------------------------------------------


def test_a_reply_and_its_fallback_are_read_from_the_stanza() -> None:
    quote = "> #1 !high printer jams — from @operator\n"
    line = read_stanza(reply_stanza(quote + "done, replaced the roller", "xmpp:7:3", len(quote)))
    assert line == ChatLine(
        quote + "done, replaced the roller",
        reply_id="xmpp:7:3",
        reply_to=BOT,
        fallback=((0, len(quote)),),
    )
    assert without_fallback(line) == "done, replaced the roller"
    assert own_text(line) == "done, replaced the roller"


def test_a_fallback_that_does_not_fit_is_ignored_and_one_without_range_is_everything() -> None:
    msg = reply_stanza("short", "k", None)
    fallback = ET.SubElement(msg.xml, "{urn:xmpp:fallback:0}fallback", {"for": "urn:xmpp:reply:0"})
    ET.SubElement(fallback, "{urn:xmpp:fallback:0}body", {"start": "0", "end": "99"})
    assert read_stanza(msg).fallback == ()
    other = reply_stanza("quoted text", "k", None)
    ET.SubElement(other.xml, "{urn:xmpp:fallback:0}fallback", {"for": "urn:xmpp:reply:0"})
    assert without_fallback(read_stanza(other)) == ""
    unrelated = reply_stanza("> x\nhello", "k", None)  # a fallback for something else
    ET.SubElement(unrelated.xml, "{urn:xmpp:fallback:0}fallback", {"for": "urn:xmpp:other"})
    assert without_fallback(read_stanza(unrelated)) == "> x\nhello"


def test_quoted_lines_and_the_ticket_they_name() -> None:
    assert split_quote("> #12 [high] x\n>> older\n\ndone, roller replaced\nand tested") == (
        ["#12 [high] x", "older"],
        "done, roller replaced\nand tested",
    )
    assert split_quote("no quote > here") == ([], "no quote > here")
    assert quoted_ticket(["Ticket #5 opened for @it.", "#6"]) == 5
    assert quoted_ticket(["№7 printer"]) == 7
    assert quoted_ticket(["#12a", "x#3", "nothing here"]) is None


def test_ticket_threads() -> None:
    assert ticket_thread(124) == "helpdesk-ticket-124"
    assert thread_ticket("helpdesk-ticket-124") == 124
    assert thread_ticket("helpdesk-ticket-x") is None
    assert thread_ticket("some-client-thread") is None
    assert thread_ticket(None) is None


def test_command_words_corrections_and_files() -> None:
    assert is_command("list") and is_command("/take #1") and is_command("#2 hello")
    assert is_command("готово заменил ролик")  # `готово` is `close`
    assert not is_command("done, replaced the roller") and not is_command("")
    correction = stanza("new printer jams")
    ET.SubElement(correction.xml, "{urn:xmpp:message-correct:0}replace", {"id": "m1"})
    assert is_correction(correction) and not is_correction(stanza("new printer jams"))
    upload = stanza("https://upload.example.test/a/photo.jpg")
    oob = ET.SubElement(upload.xml, "{jabber:x:oob}x")
    ET.SubElement(oob, "{jabber:x:oob}url").text = "https://upload.example.test/a/photo.jpg"
    assert oob_url(upload) == "https://upload.example.test/a/photo.jpg"
    assert oob_url(stanza("https://example.test/a.jpg")) is None


# --- the short first line -------------------------------------------------------------------


def test_the_first_line_is_short_and_says_who_it_is_from() -> None:
    assert (
        priority_mark(2) == "" and priority_mark(3) == " !high" and priority_mark(4) == (" !urgent")
    )
    assert short_name("Иванова Анна Петровна") == "Иванова А.П."
    assert short_name("John Smith") == "John Smith"
    long = "the printer on the third floor jams every morning and the toner leaks on the tray"
    assert shorten(long) == "the printer on the third floor jams every morning and the…"
    assert len(shorten(long)) <= 61
    assert shorten("x" * 80) == "x" * 60 + "…"
    text = notice_text(124, 3, long, "from Иванова А.П.", ["New for @it [high]"])
    assert text.splitlines() == [
        "#124 !high the printer on the third floor jams every morning and the… — from Иванова А.П.",
        "New for @it [high]",
        long,  # in full, below
    ]
    assert notice_text(5, 2, "@w1 took it") == "#5 @w1 took it"


# --- resolution, with the database ----------------------------------------------------------


@pytest.fixture
def bot(dialog_bot: DialogBot) -> DialogBot:
    return dialog_bot


async def comments(bot: DialogBot, ticket: int) -> list[str | None]:
    async with bot.sessions() as session:
        rows = await session.scalars(
            select(TicketEvent.text).where(
                TicketEvent.ticket_id == ticket, TicketEvent.action == "comment"
            )
        )
        return list(rows)


def jid(login: str) -> str:
    return f"{login}@{DOMAIN}/phone"


async def test_a_reply_to_ones_own_notification_lands_on_its_ticket(bot: DialogBot) -> None:
    assert await bot.say("operator", "new printer jams @it !high") == "Ticket #1 opened for @it."
    key = await chat_key(bot, "w1", 1)
    quote = "> #1 !high printer jams — from @operator\n> New for @it [high]\n"
    msg = reply_stanza(quote + "done, replaced the roller", key, len(quote))
    replied = await replied_ticket(bot.sessions, jid("w1").upper(), msg, bot_jid=BOT)
    assert replied == Replied(1, "done, replaced the roller", "reply")
    assert await bot.say("w1", replied.command) == "Comment added to #1."
    assert await comments(bot, 1) == ["done, replaced the roller"]
    # a client that quotes without marking the quote as the fallback: the quote goes too
    unmarked = reply_stanza(quote + "and cleaned it", key, None)
    assert await replied_ticket(bot.sessions, jid("w1"), unmarked) == Replied(
        1, "and cleaned it", "reply"
    )


async def test_a_reply_to_anything_else_is_no_reply(bot: DialogBot) -> None:
    await bot.say("operator", "new printer jams @it")
    await bot.say("operator", "new for w2 only @w2")
    theirs = await chat_key(bot, "w2", 2)  # w2's notification about #2
    quote = "> #2 for w2 only — from @operator\n"
    for reply_id, to in ((theirs, BOT), ("no-such-id", BOT), (await chat_key(bot, "w1", 1), "x@y")):
        msg = reply_stanza(quote + "sneaky comment", reply_id, len(quote), to=to)
        assert await replied_ticket(bot.sessions, jid("w1"), msg, bot_jid=BOT) is None
        # ... so the message is an ordinary command, with the usual answer
        assert await bot.say("w1", own_text(read_stanza(msg))) == (
            "Unknown command 'sneaky'. Type 'help' for the list of commands."
        )
    without_database = reply_stanza(quote + "x", await chat_key(bot, "w1", 1), len(quote))
    assert await replied_ticket(None, jid("w1"), without_database) is None
    assert await comments(bot, 2) == []


async def test_a_quote_naming_a_ticket_is_the_same_as_typing_its_number(bot: DialogBot) -> None:
    await bot.say("operator", "new for w2 only @w2")
    line = ChatLine("> #1 for w2 only — from @operator\nI can help")
    replied = await replied_ticket(bot.sessions, jid("w1"), line)
    assert replied == Replied(1, "I can help", "quote")
    # the same core path as `#1 I can help`: w1 may not see #1, so it does not exist
    assert await bot.say("w1", replied.command) == await bot.say("w1", "#1 I can help")
    assert await bot.say("w1", replied.command) == "#1 not found"
    assert await bot.say("w2", replied.command) == "Comment added to #1."
    empty = await replied_ticket(bot.sessions, jid("w2"), ChatLine("> #1 x"))
    assert empty == Replied(1, "", "quote")
    assert await bot.say("w2", empty.command) == "Some text is needed. Usage: #N <text>"


async def test_a_message_in_a_ticket_thread_is_a_comment_unless_it_is_a_command(
    bot: DialogBot,
) -> None:
    thread = ticket_thread(1)
    found = await replied_ticket(bot.sessions, jid("w1"), ChatLine("on my way", thread=thread))
    assert found == Replied(1, "on my way", "thread")
    for command in ("list", "take #2", "#3 hello", "готово заменил ролик"):
        assert await replied_ticket(bot.sessions, jid("w1"), ChatLine(command, thread=thread)) is (
            None
        )
    other = ChatLine("on my way", thread="a-client-thread")
    assert await replied_ticket(bot.sessions, jid("w1"), other) is None
    # a quote naming a ticket wins over the thread
    both = ChatLine("> #7 x\nsee this", thread=thread)
    assert await replied_ticket(bot.sessions, jid("w1"), both) == Replied(7, "see this", "quote")
    # the stanza's own <thread>, as the bot reads it
    in_thread = read_stanza(stanza("on my way", thread=thread))
    assert await replied_ticket(bot.sessions, jid("w1"), in_thread) == found


def test_a_slash_command_or_a_lone_command_word_acts_on_the_replied_ticket() -> None:
    def command(text: str) -> str:
        return Replied(12, text, "reply").command

    assert command("/close roller replaced") == "close #12 roller replaced"
    assert command("/закрыть ролик заменён") == "close #12 ролик заменён"
    assert command("take") == command("взять") == command("/take") == "take #12"
    assert command("готово") == "close #12"
    assert command("/assign @w2") == "assign #12 @w2"
    assert command("/prio !urgent") == "prio #12 !urgent"
    # a reply that merely starts with such a word is a comment; other commands too
    assert command("close to done, one more part") == "#12 close to done, one more part"
    assert command("/list") == "#12 /list"
    assert command("/new printer jams") == "#12 /new printer jams"
    assert command("done") == "#12 done"  # not a command word


async def test_a_worker_closes_the_ticket_of_a_notification_by_replying(bot: DialogBot) -> None:
    assert await bot.say("operator", "new toner empty @w1") == "Ticket #1 opened for @w1."
    key = await chat_key(bot, "w1", 1)
    quote = "> #1 toner empty — from @operator\n"
    msg = reply_stanza(quote + "/close replaced the toner", key, len(quote))
    replied = await replied_ticket(bot.sessions, jid("w1"), msg, bot_jid=BOT)
    assert replied is not None and replied.command == "close #1 replaced the toner"
    assert await bot.say("w1", replied.command) == "#1 closed."
    # in the ticket's thread a lone word acts on it too; any other command stays as typed
    line = ChatLine("reopen", thread=ticket_thread(1))
    in_thread = await replied_ticket(bot.sessions, jid("w1"), line)
    assert in_thread is not None and in_thread.command == "reopen #1"


async def test_a_customers_ticket_is_from_the_customer(bot: DialogBot) -> None:
    async with bot.sessions() as session, session.begin():
        session.add(Customer(full_name="Иванова Анна Петровна", login="ivanova"))
    assert await bot.say("operator", "new from c1 printer jams @it !high") == (
        "Ticket #1 opened for @it (Иванова Анна Петровна)."
    )
    assert bot.inbox("w1") == [
        "#1 !high printer jams — from Иванова А.П.\nNew for @it [high], opened by @operator"
    ]
    bot.delivered.clear()
    await bot.say("head_it", "assign #1 @w2")
    assert bot.inbox("w2") == [
        "#1 !high printer jams — from Иванова А.П.\nAssigned to @w2 [high] by @head_it"
    ]
