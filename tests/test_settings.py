"""Notification settings (commands.md): `mute`/`unmute`, the `staff set` fields for
e-mail, quiet hours and the SMS phone, and the dead-letter line of `stats`."""

from __future__ import annotations

import dataclasses
import string
from datetime import datetime, timedelta

import pytest
from dialog import DialogBot
from sqlalchemy import func, select

from bot.channels import Envelope, NotConnected, PermanentFailure
from commands.i18n import EN, RU
from commands.registry import REGISTRY
from storage.models import Outbox, Staff

NOW = datetime(2026, 11, 25, 9, 0)  # Wednesday, 12:00 in Moscow
MUTED = "Notifications muted until {}; urgent ones still come. 'unmute' ends it."
NOT_MUTED = "Notifications are not muted."
NOT_ALLOWED = "You may not use 'staff'."


@pytest.fixture
def bot(dialog_bot: DialogBot) -> DialogBot:
    return dialog_bot


def usage(word: str) -> str:
    command = REGISTRY.find(word)
    assert command is not None
    return f"Usage: {command.usage}"


async def says(bot: DialogBot, transcript: str) -> None:
    """One exchange a line: `login: message => the exact reply`."""
    for line in filter(None, (x.strip() for x in transcript.splitlines())):
        said, _, expected = line.partition(" => ")
        login, text = said.split(": ", 1)
        assert await bot.say(login, text) == expected, line


async def settings_of(bot: DialogBot, login: str) -> dict[str, object]:
    async with bot.sessions() as session:
        staff = await session.scalar(select(Staff).where(Staff.login == login))
    assert staff is not None
    fields = ("phone", "sms", "email", "email_mode", "quiet_hours", "muted_until", "role")
    return {name: getattr(staff, name) for name in fields}


async def outbox_rows(bot: DialogBot) -> list[tuple[object, ...]]:
    async with bot.sessions() as session:
        found = await session.execute(
            select(Outbox.id, Outbox.status, Outbox.next_attempt_at).order_by(Outbox.id)
        )
    return [tuple(row) for row in found]


async def offline(envelope: Envelope) -> None:
    raise NotConnected


# --- mute and unmute ------------------------------------------------------------------


async def test_mute_for_an_hour_by_default_or_for_the_hours_given(bot: DialogBot) -> None:
    await says(
        bot,
        f"""
        w1: mute => {MUTED.format("13:00")}
        w1: mute 3 => {MUTED.format("15:00")}
        w1: тихо 12 => {MUTED.format("26.11.2026 00:00")}
        w1: MUTE 72 => {MUTED.format("28.11.2026 12:00")}
        """,
    )  # a mute while muted replaces it; the date shows when it is not today
    assert (await settings_of(bot, "w1"))["muted_until"] == NOW + timedelta(hours=72)
    for login in ("admin", "head_it", "operator"):  # every role may mute
        assert await bot.say(login, "mute 2") == MUTED.format("14:00")


async def test_mute_and_unmute_answer_in_russian(bot: DialogBot) -> None:
    await says(bot, "admin: staff set w1 lang ru => @w1: lang is ru now.")
    await says(
        bot,
        """
        w1: тихо 2 => Уведомления отложены до 14:00; срочные приходят сразу. Отменить: «звук».
        w1: звук => Уведомления снова включены; отложенных не было.
        w1: звук => Уведомления и так не отложены.
        w1: тихо 0 => «0» — не число часов от 1 до 72. Использование: mute [hours]
        """,
    )
    help_text = await bot.say("w1", "помощь") or ""
    assert "mute [hours]: Отложить несрочные уведомления" in help_text
    assert "unmute: Снова получать уведомления, и отложенные тоже." in help_text


BAD_HOURS = [
    ("0", "'0' is not a number of hours from 1 to 72."),
    ("73", "'73' is not a number of hours from 1 to 72."),
    ("abc", "'abc' is not a number of hours from 1 to 72."),
    ("1.5", "'1.5' is not a number of hours from 1 to 72."),
    ("-1", "'-1' is not a number of hours from 1 to 72."),
    ("2 hours", "'2 hours' is not a number of hours from 1 to 72."),
    ("100", "'100' is not a number of hours from 1 to 72."),
    ("2 !high", "This command takes no !priority."),
]


@pytest.mark.parametrize(("hours", "wrong"), BAD_HOURS)
async def test_bad_hours_are_refused_and_change_nothing(
    bot: DialogBot, hours: str, wrong: str
) -> None:
    assert await bot.say("w1", f"mute {hours}") == f"{wrong} {usage('mute')}"
    assert (await settings_of(bot, "w1"))["muted_until"] is None
    await says(bot, f"w2: mute 2 => {MUTED.format('14:00')}")
    await bot.say("operator", "new vpn @w2")
    before = await settings_of(bot, "w2"), await outbox_rows(bot)
    assert await bot.say("w2", f"mute {hours}") == f"{wrong} {usage('mute')}"
    assert (await settings_of(bot, "w2"), await outbox_rows(bot)) == before  # still 2 hours


async def test_unmute_takes_no_arguments(bot: DialogBot) -> None:
    assert await bot.say("w1", "unmute 2") == f"This command takes no text. {usage('unmute')}"


async def test_a_muted_person_gets_urgent_work_at_once_and_the_rest_on_unmute(
    bot: DialogBot,
) -> None:
    await says(bot, "operator: new printer jams @it => Ticket #1 opened for @it.")
    await says(bot, "w1: take #1 => #1 is yours now.")
    bot.delivered.clear()
    await says(
        bot,
        f"""
        w1: mute 2 => {MUTED.format("14:00")}
        operator: #1 still jams => Comment added to #1.
        """,
    )
    assert bot.inbox("w1") == []  # held back
    assert bot.inbox("head_it") == ["#1 @operator: still jams"]  # others are not muted
    await says(bot, "operator: new server down @w1 !urgent => Ticket #2 opened for @w1.")
    assert bot.inbox("w1") == ["#2 !urgent server down — from @operator\nNew for @w1 [urgent]"]
    await says(bot, "operator: #2 any news? => Comment added to #2.")
    assert bot.inbox("w1") == ["#2 !urgent @operator: any news?"]  # urgent: every notice of it
    await says(
        bot,
        """
        w1: unmute => Notifications are on again: 1 held back go out now.
        w1: unmute => Notifications are not muted.
        """,
    )
    assert bot.inbox("w1") == ["#1 @operator: still jams"]
    await says(bot, "operator: #1 and now? => Comment added to #1.")
    assert bot.inbox("w1") == ["#1 @operator: and now?"]
    assert (await settings_of(bot, "w1"))["muted_until"] is None


async def test_what_was_held_goes_out_when_the_mute_ends(bot: DialogBot) -> None:
    await says(bot, f"w1: mute => {MUTED.format('13:00')}")
    await says(bot, "operator: new vpn broken @w1 => Ticket #1 opened for @w1.")
    notice = "#1 vpn broken — from @operator\nNew for @w1 [normal]"
    assert bot.inbox("w1") == [] and bot.inbox("head_it") == [notice]
    bot.clock.now = NOW + timedelta(minutes=59)
    await bot.delivery.deliver_due()
    assert bot.inbox("w1") == []
    bot.clock.now = NOW + timedelta(hours=1)
    assert await bot.delivery.deliver_due() == 1
    assert bot.inbox("w1") == [notice]
    await says(
        bot,
        """
        operator: #1 ping => Comment added to #1.
        w1: unmute => Notifications are not muted.
        """,
    )  # the mute is over: at once, and there is nothing to unmute
    assert bot.inbox("w1") == ["#1 @operator: ping"]


async def test_mute_holds_what_is_already_queued_but_not_urgent_work(bot: DialogBot) -> None:
    bot.chat.behaviour = offline  # the bot is offline: notifications wait in the outbox
    await bot.say("operator", "new vpn broken @w1")
    await bot.say("operator", "new server down @w1 !urgent")
    await says(bot, f"w1: mute => {MUTED.format('13:00')}")
    bot.chat.behaviour = None
    await bot.delivery.deliver_due()
    assert bot.inbox("w1") == ["#2 !urgent server down — from @operator\nNew for @w1 [urgent]"]
    assert len(bot.inbox("head_it")) == 2
    await says(bot, "w1: unmute => Notifications are on again: 1 held back go out now.")
    assert bot.inbox("w1") == ["#1 vpn broken — from @operator\nNew for @w1 [normal]"]


async def test_a_new_mute_replaces_the_old_one_shorter_or_longer(bot: DialogBot) -> None:
    await says(bot, f"w1: mute 5 => {MUTED.format('17:00')}")
    await bot.say("operator", "new vpn broken @w1")
    await says(bot, f"w1: mute 1 => {MUTED.format('13:00')}")  # shorter: it comes sooner
    bot.clock.now = NOW + timedelta(hours=1)
    await bot.delivery.deliver_due()
    assert bot.inbox("w1") == ["#1 vpn broken — from @operator\nNew for @w1 [normal]"]

    await says(bot, f"w1: mute 1 => {MUTED.format('14:00')}")
    await bot.say("operator", "#1 ping")
    await says(bot, f"w1: mute 3 => {MUTED.format('16:00')}")  # longer: it waits longer
    bot.clock.now = NOW + timedelta(hours=2)
    await bot.delivery.deliver_due()
    assert bot.inbox("w1") == []
    bot.clock.now = NOW + timedelta(hours=4)
    await bot.delivery.deliver_due()
    assert bot.inbox("w1") == ["#1 @operator: ping"]


# --- staff set: e-mail, e-mail mode, quiet hours, phone -------------------------------

GOOD = [  # message, the value in the reply, the column, what is stored
    ("email w1@company.example", "w1@company.example", "email", "w1@company.example"),
    ("email Ivan.Petrov@Company.example", "Ivan.Petrov@Company.example", "email",
     "Ivan.Petrov@Company.example"),
    ("email off", "off", "email", None),
    ("mail all", "all", "email_mode", "all"),
    ("mail DIGEST", "digest", "email_mode", "digest"),
    ("mail off", "off", "email_mode", "off"),
    ("quiet 23:00-07:30", "23:00-07:30", "quiet_hours", "23:00-07:30"),
    ("quiet 8:00-9:00", "08:00-09:00", "quiet_hours", "08:00-09:00"),
    ("quiet 22:00 - 06:00", "22:00-06:00", "quiet_hours", "22:00-06:00"),
    ("quiet 22:00–06:00", "22:00-06:00", "quiet_hours", "22:00-06:00"),  # a phone's dash
    ("quiet off", "off", "quiet_hours", "off"),
    ("quiet default", "default", "quiet_hours", None),
    ("phone +7 (495) 123-45-67", "+74951234567", "phone", "+74951234567"),
    ("phone 84951234567", "+74951234567", "phone", "+74951234567"),
    ("phone 8 (916) 555-12-34", "+79165551234", "phone", "+79165551234"),
    ("phone off", "off", "phone", None),
]  # fmt: skip


@pytest.mark.parametrize(("setting", "shown", "column", "stored"), GOOD)
async def test_staff_set_notification_fields(
    bot: DialogBot, setting: str, shown: str, column: str, stored: object
) -> None:
    # a value other than the one set, so each case changes something
    start = {"email": "x@y.example", "email_mode": "all", "quiet_hours": "21:00-07:00"}
    start["phone"] = "+74990000000"
    async with bot.sessions() as session, session.begin():
        staff = await session.scalar(select(Staff).where(Staff.login == "w1"))
        assert staff is not None
        setattr(staff, column, start[column])
    field = setting.split()[0]
    assert await bot.say("admin", f"staff set w1 {setting}") == f"@w1: {field} is {shown} now."
    assert (await settings_of(bot, "w1"))[column] == stored


PHONE = "is not a full phone number: SMS needs one with its area code, not an extension."
QUIET = "is not quiet hours: use HH:MM-HH:MM, off or default."
EMAIL = "is not an e-mail address like name@domain."
BAD = [  # message, what is wrong
    ("email w1.company.example", f"'w1.company.example' {EMAIL}"),
    ("email a@b@c.example", f"'a@b@c.example' {EMAIL}"),
    ("email w 1@company.example", f"'w 1@company.example' {EMAIL}"),
    ("email @company.example", f"'@company.example' {EMAIL}"),
    ("mail weekly", "'weekly' is not an e-mail mode: use off, all or digest."),
    ("mail on", "'on' is not an e-mail mode: use off, all or digest."),
    ("quiet 25:00-08:00", f"'25:00-08:00' {QUIET}"),
    ("quiet 22:00", f"'22:00' {QUIET}"),
    ("quiet 22:00-22:00", f"'22:00-22:00' {QUIET}"),
    ("quiet 22-8", f"'22-8' {QUIET}"),
    ("quiet night", f"'night' {QUIET}"),
    ("phone 4521", f"'4521' {PHONE}"),
    ("phone 123-45-67", f"'123-45-67' {PHONE}"),
    ("phone 495 123", f"'495 123' {PHONE}"),
    ("phone call me", "'call me' is not a valid phone."),
]  # fmt: skip


@pytest.mark.parametrize(("setting", "wrong"), BAD)
async def test_bad_values_are_refused_and_change_nothing(
    bot: DialogBot, setting: str, wrong: str
) -> None:
    await says(bot, "admin: staff set w1 phone +7 495 123-45-67 => @w1: phone is +74951234567 now.")
    before = await settings_of(bot, "w1")
    reply = await bot.say("admin", f"staff set w1 {setting}")
    assert reply == f"{wrong} {usage('staff')}"
    assert await settings_of(bot, "w1") == before


@pytest.mark.parametrize("login", ["operator", "head_it", "w1"])
@pytest.mark.parametrize("setting", ["email w1@company.example", "mail all", "quiet off"])
async def test_only_admins_set_them(bot: DialogBot, login: str, setting: str) -> None:
    before = await settings_of(bot, "w1")
    assert await bot.say(login, f"staff set w1 {setting}") == NOT_ALLOWED
    assert await bot.say(login, "staff set w1 lang ru") == NOT_ALLOWED  # as the other fields
    assert await settings_of(bot, "w1") == before


async def test_the_usage_names_the_new_fields(bot: DialogBot) -> None:
    reply = await bot.say("admin", "staff set w1 hat red") or ""
    assert "role|dept|phone|sms|lang|email|mail|quiet <value>" in reply


async def test_the_settings_steer_sms_and_e_mail(bot: DialogBot) -> None:
    """What `staff set` stores is what the notification rules read (commands/notify.py)."""
    bot.core.rules = dataclasses.replace(bot.core.rules, sms=True, email=True)
    await says(
        bot,
        """
        admin: staff set w1 phone 8 916 555-12-34 => @w1: phone is +79165551234 now.
        admin: staff set w1 sms on => @w1: sms is on now.
        admin: staff set w1 email w1@company.example => @w1: email is w1@company.example now.
        admin: staff set w1 mail all => @w1: mail is all now.
        operator: new vpn @w1 => Ticket #1 opened for @w1.
        """,
    )  # 12:00 in Moscow: outside the default quiet hours
    assert [e.address for e in bot.sms.take()] == ["+79165551234"]
    assert [e.address for e in bot.email.take()] == ["w1@company.example"]

    bot.clock.now = NOW + timedelta(hours=11)  # 23:00 in Moscow: the default holds SMS back
    await says(bot, "operator: new printer @w1 => Ticket #2 opened for @w1.")
    assert bot.sms.take() == [] and len(bot.email.take()) == 1
    await says(
        bot,
        """
        admin: staff set w1 quiet off => @w1: quiet is off now.
        admin: staff set w1 mail digest => @w1: mail is digest now.
        operator: new scanner @w1 => Ticket #3 opened for @w1.
        """,
    )
    assert [e.text for e in bot.sms.take()] == ["#3 scanner — from @operator\nNew for @w1 [normal]"]
    assert bot.email.take() == []  # a digest, not every notification


# --- stats: the dead letters, for admins ----------------------------------------------

DEAD = "Undelivered notifications (gave up): {} — the log names each one"


async def test_stats_show_admins_the_notifications_given_up_on(bot: DialogBot) -> None:
    await bot.say("operator", "new printer @it")
    for login in ("admin", "head_it", "w1"):
        assert "Undelivered" not in (await bot.say(login, "stats") or "")  # none yet

    async def refused(envelope: Envelope) -> None:
        if envelope.address.startswith(("w1@", "w2@")):
            raise PermanentFailure("no such user")

    bot.chat.behaviour = refused
    await bot.say("operator", "new scanner @it")
    bot.chat.behaviour = None
    async with bot.sessions() as session:
        dead = await session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.status == "dead")
        )
    assert dead == 2
    lines = (await bot.say("admin", "stats") or "").splitlines()
    assert lines[-2:] == ["all: 2 / 2 / 0 / 0", DEAD.format(2)]
    for login in ("head_it", "w1", "operator"):  # other roles: no such line
        assert (await bot.say(login, "stats") or "").splitlines()[-1].startswith("all: ")
    await says(bot, "admin: staff set admin lang ru => @admin: lang is ru now.")
    assert (await bot.say("admin", "статистика") or "").splitlines()[-1] == (
        "Недоставленные уведомления (попытки прекращены): 2 — каждое названо в журнале"
    )


async def test_stats_without_tickets_still_show_the_dead_letters(bot: DialogBot) -> None:
    async with bot.sessions() as session, session.begin():
        session.add(Outbox(key="agenda:x", address="w1@example.test", text="x", status="dead"))
    assert await bot.say("admin", "stats") == f"No tickets yet.\n{DEAD.format(1)}"
    assert await bot.say("w1", "stats") == "No tickets yet."


# --- the catalogs ---------------------------------------------------------------------

NEW_KEYS = [
    "bad_mute_hours", "muted", "not_muted", "unmuted", "unmuted_none", "not_full_phone",
    "bad_email", "bad_mail", "bad_quiet", "stats_dead",
]  # fmt: skip


def test_every_new_reply_is_in_both_languages() -> None:
    for key in NEW_KEYS:
        assert key in EN and key in RU, key
        assert set(_fields(EN[key])) == set(_fields(RU[key])), key
    assert {"help.mute", "help.unmute"} <= RU.keys()


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]
