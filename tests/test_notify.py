"""Who gets a notification by which channel (commands/notify.py, docs/notifications.md):
SMS for urgent work to someone offline and for `sms on`, quiet hours, e-mail, mute,
department rooms, and the acknowledgement that urgent and high assignments wait for."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dialog import DOMAIN, DialogBot, copy_of
from sqlalchemy import select, update

from commands.notify import e164, parse_hours, quiet_until
from storage.models import Outbox, Staff

NOW = datetime(2026, 11, 25, 9, 0)  # 12:00 in Moscow
MSK = ZoneInfo("Europe/Moscow")
PHONE = "+79161234567"


@pytest.fixture
async def bot(staffed_template: Path, tmp_path: Path) -> AsyncIterator[DialogBot]:
    bot = copy_of(staffed_template, tmp_path, NOW)
    async with bot.sessions() as session, session.begin():
        workers = Staff.login.in_(("w1", "w2", "head_it"))
        await session.execute(update(Staff).where(workers).values(phone=PHONE))
    bot.core.rules = dataclasses.replace(
        bot.core.rules,
        sms=True,
        email=True,
        ack_within={4: timedelta(minutes=5), 3: timedelta(minutes=15)},
        rooms={"it": "it@conference.example.test"},
    )
    yield bot
    await bot.engine.dispose()


def offline(*logins: str) -> object:
    jids = {f"{login}@{DOMAIN}" for login in logins}
    return lambda jid: jid not in jids


async def set_staff(bot: DialogBot, login: str, **values: object) -> None:
    async with bot.sessions() as session, session.begin():
        await session.execute(update(Staff).where(Staff.login == login).values(**values))


def sms_to(bot: DialogBot) -> list[tuple[str, str]]:
    return [(e.address, e.text) for e in bot.sms.take()]


async def test_an_urgent_ticket_goes_by_sms_to_a_person_who_is_offline(bot: DialogBot) -> None:
    bot.core.rules = dataclasses.replace(bot.core.rules, available=offline("w1"))
    await bot.say("operator", "new server room flooded @w1 !urgent")
    notice = "#1 !urgent server room flooded — from @operator\nNew for @w1 [urgent]"
    assert bot.inbox("w1") == [notice]
    assert sms_to(bot) == [(PHONE, notice)]
    await bot.say("operator", "new printer @w1 !high")  # not urgent: chat only
    await bot.say("operator", "new fire @w2 !urgent")  # urgent, but w2 is online
    assert sms_to(bot) == []


async def test_an_urgent_ticket_for_a_department_reaches_its_offline_members(
    bot: DialogBot,
) -> None:
    bot.core.rules = dataclasses.replace(bot.core.rules, available=offline("w1", "w2"))
    await bot.say("operator", "new mail is down @it !urgent")
    assert sorted(a for a, _ in sms_to(bot)) == [PHONE, PHONE]  # w1 and w2, same test phone
    await bot.say("w2", "#1 looking")  # a comment on an urgent ticket is not routed work
    assert sms_to(bot) == []


async def test_sms_on_gets_every_routed_ticket_outside_quiet_hours(bot: DialogBot) -> None:
    await bot.core.run_admin("staff", ["set", "w1", "sms", "on"])
    await bot.say("operator", "new printer @w1")
    assert sms_to(bot) == [(PHONE, "#1 printer — from @operator\nNew for @w1 [normal]")]
    await bot.say("operator", "#1 toner is in the cupboard")  # a change: chat only
    assert sms_to(bot) == []
    bot.clock.now = datetime(2026, 11, 25, 20, 0)  # 23:00 in Moscow: quiet hours
    await bot.say("operator", "new scanner @w1")
    assert sms_to(bot) == []  # held until 08:00
    bot.clock.now = datetime(2026, 11, 26, 4, 59)
    await bot.delivery.deliver_due()
    assert sms_to(bot) == []
    bot.clock.now = datetime(2026, 11, 26, 5, 0)  # 08:00 in Moscow
    await bot.delivery.deliver_due()
    assert [a for a, _ in sms_to(bot)] == [PHONE]


async def test_urgent_sms_ignores_quiet_hours_and_own_hours_replace_the_default(
    bot: DialogBot,
) -> None:
    bot.core.rules = dataclasses.replace(bot.core.rules, available=offline("w1"))
    bot.clock.now = datetime(2026, 11, 25, 21, 0)  # midnight in Moscow
    await bot.say("operator", "new flood @w1 !urgent")
    assert len(sms_to(bot)) == 1
    await bot.core.run_admin("staff", ["set", "w2", "sms", "on"])
    await set_staff(bot, "w2", quiet_hours="off")  # a night-shift worker
    await bot.say("operator", "new printer @w2")
    assert len(sms_to(bot)) == 1


async def test_no_sms_without_a_provider_or_a_full_number(bot: DialogBot) -> None:
    bot.core.rules = dataclasses.replace(bot.core.rules, available=offline("w1", "w2"))
    await set_staff(bot, "w2", phone="4521")  # an extension
    await bot.say("operator", "new flood @w2 !urgent")
    assert sms_to(bot) == []
    bot.core.rules = dataclasses.replace(bot.core.rules, sms=False)
    await bot.say("operator", "new flood @w1 !urgent")
    assert sms_to(bot) == []
    assert bot.inbox("w1") and bot.inbox("w2")  # chat always


async def test_email_for_those_who_chose_it(bot: DialogBot) -> None:
    await set_staff(bot, "head_it", email="head@example.test", email_mode="all")
    await set_staff(bot, "w1", email="w1@example.test", email_mode="digest")
    await bot.say("operator", "new printer @it")
    mails = bot.email.take()
    assert [(m.address, m.text) for m in mails] == [
        ("head@example.test", "#1 printer — from @operator\nNew for @it [normal]")
    ]
    bot.core.rules = dataclasses.replace(bot.core.rules, email=False)
    await bot.say("operator", "new scanner @it")
    assert bot.email.take() == []


async def test_a_mute_holds_back_what_is_not_urgent(bot: DialogBot) -> None:
    await set_staff(bot, "w1", muted_until=NOW + timedelta(hours=1))
    await bot.say("operator", "new printer @w1")
    await bot.say("operator", "new flood @w1 !urgent")
    assert bot.inbox("w1") == ["#2 !urgent flood — from @operator\nNew for @w1 [urgent]"]
    bot.clock.now = NOW + timedelta(hours=1)
    await bot.delivery.deliver_due()
    assert bot.inbox("w1") == ["#1 printer — from @operator\nNew for @w1 [normal]"]


async def test_new_department_tickets_are_posted_in_its_room(bot: DialogBot) -> None:
    await bot.say("operator", "new printer @it")
    await bot.say("operator", "new laptop for a manager @w1")  # a person's: not in the room
    await bot.say("operator", "new vacation form @hr")  # no room for hr
    await bot.say("w1", "#1 on my way")  # changes are not posted
    posted = [(e.address, e.text) for e in bot.room.take()]
    assert posted == [
        ("it@conference.example.test", "#1 printer — from @operator\nNew for @it [normal]")
    ]


async def test_urgent_and_high_assignments_wait_for_an_acknowledgement(bot: DialogBot) -> None:
    await bot.say("operator", "new flood @w1 !urgent")
    await bot.say("operator", "new printer @w2 !high")
    await bot.say("operator", "new mouse @w2")  # normal: nothing to wait for
    await bot.say("operator", "new ups @it !urgent")  # a department: no one person to ask
    await bot.say("head_it", "assign #3 @w1")
    await bot.say("head_it", "prio #3 !urgent")  # a change, not an assignment
    async with bot.sessions() as session:
        rows = await session.execute(
            select(Outbox.ticket_id, Outbox.address, Outbox.ack_window, Outbox.ack_state)
            .where(Outbox.ack_state.is_not(None))
            .order_by(Outbox.id)
        )
        waiting = [tuple(row) for row in rows]
    assert waiting == [
        (1, f"w1@{DOMAIN}", 300, "waiting"),
        (2, f"w2@{DOMAIN}", 900, "waiting"),
    ]


def test_quiet_hours() -> None:
    night = parse_hours("22:00-08:00")
    assert night == (time(22), time(8))
    assert parse_hours("off") is None and parse_hours("8-9") is None
    assert parse_hours("9:00-18:00") == (time(9), time(18))
    at = datetime(2026, 11, 25, 20, 0)  # 23:00 MSK
    assert quiet_until(night, at, MSK) == datetime(2026, 11, 26, 5, 0)
    assert quiet_until(night, datetime(2026, 11, 25, 2, 0), MSK) == datetime(2026, 11, 25, 5, 0)
    assert quiet_until(night, datetime(2026, 11, 25, 5, 0), MSK) is None  # 08:00: over
    assert quiet_until(night, NOW, MSK) is None
    day = parse_hours("09:00-18:00")
    assert quiet_until(day, NOW, MSK) == datetime(2026, 11, 25, 15, 0)


def test_phone_numbers_for_sms() -> None:
    assert e164("8 (916) 123-45-67") == PHONE
    assert e164("+7 916 123 45 67") == PHONE
    assert e164("4521") is None and e164(None) is None and e164("123-45-67") is None
