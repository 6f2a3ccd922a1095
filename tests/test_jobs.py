"""The scheduled jobs (commands/jobs.py) over whole days of a moving clock: morning agenda,
escalations, acknowledgement of urgent assignments, the heads' digest; each exactly once."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dialog import DOMAIN, DialogBot, chat_key
from sqlalchemy import func, select, update

from commands.jobs import Jobs, by_priority, duration_text
from storage.models import Outbox, Staff

MOSCOW = ZoneInfo("Europe/Moscow")
UTC = ZoneInfo("UTC")
TAKE_WITHIN = by_priority({"urgent": timedelta(minutes=15), "high": timedelta(hours=1),
                           "normal": timedelta(hours=4), "low": timedelta(days=1)})  # fmt: skip
ACK_WITHIN = {4: timedelta(minutes=5), 3: timedelta(minutes=15)}
W1_PHONE, W2_PHONE = "+79161234567", "+79161234568"


def at(day: int, clock: str) -> datetime:
    """A Moscow wall-clock time in November 2026 as stored: naive UTC."""
    local = datetime.combine(date(2026, 11, day), time.fromisoformat(clock), tzinfo=MOSCOW)
    return local.astimezone(UTC).replace(tzinfo=None)


@pytest.fixture
async def bot(dialog_bot: DialogBot) -> DialogBot:
    """Tuesday 24.11 17:00 in Moscow; SMS and e-mail configured; w1 and w2 have phones."""
    bot = dialog_bot
    bot.clock.now = at(24, "17:00")
    bot.core.rules = dataclasses.replace(
        bot.core.rules, sms=True, email=True, ack_within=ACK_WITHIN
    )
    for login, phone in (("w1", W1_PHONE), ("w2", W2_PHONE)):
        assert await bot.say("admin", f"staff set {login} phone {phone}")
    return bot


def jobs_of(bot: DialogBot, woken: Callable[[], None] | None = None) -> Jobs:
    """A Jobs object as the process makes it; a new one is what a restart makes."""
    return Jobs(
        bot.sessions, bot.core.rules, language="en", take_within=TAKE_WITHIN, on_outbox=woken
    )


async def set_mail(bot: DialogBot, login: str, address: str | None, mode: str) -> None:
    async with bot.sessions() as session, session.begin():
        await session.execute(
            update(Staff).where(Staff.login == login).values(email=address, email_mode=mode)
        )


async def outbox_size(bot: DialogBot) -> int:
    async with bot.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Outbox)) or 0


async def say(bot: DialogBot, line: str) -> None:
    login, text = line.split(": ", 1)
    reply = await bot.say(login, text) or ""
    assert reply.startswith(("Ticket #", "Call #", "#")) and "not" not in reply, (line, reply)


Step = str | Callable[[], Awaitable[object]]  # a chat line "login: text", or anything else


class Day:
    """Drives the jobs through a day: every 5 minutes the clock moves, the actions due run,
    then the jobs as the scheduler runs them (the agenda at 08:30, the digest at 18:00,
    escalations and acknowledgements always), each twice to show the second queues
    nothing; the outbox is delivered when woken (`on_outbox`, or a command), and what
    went out is logged by local time."""

    def __init__(self, bot: DialogBot) -> None:
        self.bot, self.jobs = bot, jobs_of(bot, self.wake)
        self.log: list[str] = []
        self.woken = False
        self.poll = False  # deliver at every step too: for what waited (quiet hours, mute)

    def wake(self) -> None:
        self.woken = True

    def restart(self) -> None:
        """What a restart of the process makes: a new Jobs object on the same database."""
        self.jobs = jobs_of(self.bot, self.wake)

    async def run(
        self, day: int, start: str, end: str, actions: dict[str, list[Step]] | None = None
    ) -> list[str]:
        actions = actions or {}
        grid, moment = set(), at(day, start)
        while moment <= at(day, end):
            grid.add(moment)
            moment += timedelta(minutes=5)
        for moment in sorted(grid | {at(day, clock) for clock in actions}):
            self.bot.clock.now = moment
            clock = moment.replace(tzinfo=UTC).astimezone(MOSCOW).strftime("%H:%M")
            for action in actions.get(clock, []):
                await (say(self.bot, action) if isinstance(action, str) else action())
                await self.collect(clock)
            if moment in grid:
                await self.tick(moment, clock)
            if self.woken or self.poll:
                self.woken = False
                await self.collect(clock)
        got, self.log = self.log, []
        return got

    async def tick(self, now: datetime, clock: str) -> None:
        jobs = [self.jobs.escalate, self.jobs.check_acks]
        if clock == "08:30":
            jobs.append(self.jobs.morning_agenda)
        if clock == "18:00":
            jobs.append(self.jobs.daily_digest)
        for job in jobs:
            await job(now)
            assert await job(now) == 0, (job, clock)  # the same run again: nothing new

    async def collect(self, clock: str) -> None:
        bot = self.bot
        await bot.delivery.deliver_due()
        for login, texts in sorted(bot.delivered.items()):
            self.log += [f"{clock} {login}: {text}" for text in texts]
        bot.delivered.clear()
        self.log += [f"{clock} sms {e.address}: {e.text}" for e in bot.sms.take()]
        self.log += [f"{clock} mail {e.address}: {e.subject}" for e in bot.email.take()]


async def yesterday(bot: DialogBot) -> None:
    """Tuesday 17:00: work planned and left behind, its notifications read."""
    for line in [
        "operator: new printer jams @it !high",  # 1: nobody takes it
        "operator: new quarterly report @w1 ^today",  # 2: w1 takes it, overdue tomorrow
        "operator: new replace cartridge @w2 ^tomorrow !high",  # 3: w2 takes it
        "operator: new vacation form @hr1 ^tomorrow",  # 4: hr1 never takes it
        "w1: take #2",
        "w2: take #3",
    ]:
        await say(bot, line)
    await bot.delivery.deliver_due()
    bot.delivered.clear()
    bot.sms.take()


# --- a whole day ----------------------------------------------------------------------------


async def test_a_working_day_of_jobs(bot: DialogBot) -> None:
    await yesterday(bot)
    await set_mail(bot, "head_it", "head_it@corp.example", "digest")
    await set_mail(bot, "admin", "admin@corp.example", "digest")
    await set_mail(bot, "head_hr", "head_hr@corp.example", "off")
    day = Day(bot)

    async def marker(login: str, of: str, ticket: int, changed: bool) -> None:
        key = await chat_key(bot, of, ticket)
        jid = f"{login}@{DOMAIN.upper()}/phone"
        assert await day.jobs.acknowledge(jid, key, "displayed", bot.clock.now) is changed

    async def restart() -> None:
        day.restart()

    log = await day.run(
        25,
        "07:00",
        "20:00",
        {
            "10:00": ["operator: new server down @w1 !urgent"],  # 5
            "10:07": [restart],  # between the SMS and the head: neither comes again
            "10:30": ["w1: take #5"],
            "12:00": ["operator: new mail is slow @w2 !urgent"],  # 6
            "12:01": [lambda: marker("w1", "w2", 6, changed=False)],  # not w2's marker
            "12:03": [lambda: marker("w2", "w2", 6, changed=True)],
            "12:04": [lambda: marker("w2", "w2", 6, changed=False)],  # once
            "12:20": ["w2: take #6"],
            "14:00": ["operator: new vpn broken @hr1 !high"],  # 7: hr1 has no phone
        },
    )
    assert log == [
        # 07:00: the first run of the day finds yesterday's leftovers
        "07:00 head_hr: #4 vacation form — not taken for 14 h\nFor @hr1 [normal]",
        "07:00 head_it: #1 !high printer jams — not taken for 14 h\nFor @it [high]",
        "07:00 head_it: #2 quarterly report — overdue by 1 d\nFor @w1 [normal, ^24.11.2026]",
        # 08:30: the agenda, for those with something due, and no one else
        "08:30 hr1: Due today or overdue for @hr1:\n"
        "#4 [normal, new] vacation form (@hr → @hr1, ^25.11.2026)",
        "08:30 w1: Due today or overdue for @w1:\n"
        "#2 [normal, in progress] quarterly report (@it → @w1, ^24.11.2026)",
        "08:30 w2: Due today or overdue for @w2:\n"
        "#3 [high, in progress] replace cartridge (@it → @w2, ^25.11.2026)",
        # an urgent assignment nobody reads: SMS after 5 min, the head after 10
        "10:00 head_it: #5 !urgent server down — from @operator\nNew for @w1 [urgent]",
        "10:00 w1: #5 !urgent server down — from @operator\nNew for @w1 [urgent]",
        f"10:05 sms {W1_PHONE}: #5 !urgent server down — from @operator\nNew for @w1 [urgent]",
        "10:10 head_it: #5 !urgent server down — neither read nor taken by @w1 in 10 min\n"
        "For @w1 [urgent]",
        "10:15 admin: #5 !urgent server down — not taken for 15 min\nFor @w1 [urgent]",
        "10:15 head_it: #5 !urgent server down — not taken for 15 min\nFor @w1 [urgent]",
        "10:30 head_it: #5 !urgent @w1 took it",
        "10:30 operator: #5 !urgent @w1 took it",
        # one read at once: no SMS, no head; not taken, so still escalated
        "12:00 head_it: #6 !urgent mail is slow — from @operator\nNew for @w2 [urgent]",
        "12:00 w2: #6 !urgent mail is slow — from @operator\nNew for @w2 [urgent]",
        "12:15 admin: #6 !urgent mail is slow — not taken for 15 min\nFor @w2 [urgent]",
        "12:15 head_it: #6 !urgent mail is slow — not taken for 15 min\nFor @w2 [urgent]",
        "12:20 head_it: #6 !urgent @w2 took it",
        "12:20 operator: #6 !urgent @w2 took it",
        # high, for someone without a phone: the head hears when the SMS would go
        "14:00 head_hr: #7 !high vpn broken — from @operator\nNew for @hr1 [high]",
        "14:00 hr1: #7 !high vpn broken — from @operator\nNew for @hr1 [high]",
        "14:15 head_hr: #7 !high vpn broken — neither read nor taken by @hr1 in 15 min\n"
        "For @hr1 [high]",
        "15:00 head_hr: #7 !high vpn broken — not taken for 1 h\nFor @hr1 [high]",
        # 18:00: the digest, to the heads who chose it
        "18:00 mail admin@corp.example: Helpdesk digest 25.11.2026",
        "18:00 mail head_it@corp.example: Helpdesk digest 25.11.2026",
    ]

    # the next morning: what is still not taken or overdue is escalated again, once
    log = await day.run(26, "07:00", "09:00")
    assert log == [
        "07:00 head_hr: #4 vacation form — not taken for 1 d 14 h\nFor @hr1 [normal]",
        "07:00 head_hr: #7 !high vpn broken — not taken for 17 h\nFor @hr1 [high]",
        "07:00 head_hr: #4 vacation form — overdue by 1 d\nFor @hr1 [normal, ^25.11.2026]",
        "07:00 head_it: #1 !high printer jams — not taken for 1 d 14 h\nFor @it [high]",
        "07:00 head_it: #2 quarterly report — overdue by 2 d\nFor @w1 [normal, ^24.11.2026]",
        "07:00 head_it: #3 !high replace cartridge — overdue by 1 d\nFor @w2 [high, ^25.11.2026]",
        "08:30 hr1: Due today or overdue for @hr1:\n"
        "#4 [normal, new] vacation form (@hr → @hr1, ^25.11.2026)",
        "08:30 w1: Due today or overdue for @w1:\n"
        "#2 [normal, in progress] quarterly report (@it → @w1, ^24.11.2026)",
        "08:30 w2: Due today or overdue for @w2:\n"
        "#3 [high, in progress] replace cartridge (@it → @w2, ^25.11.2026)",
    ]


# --- acknowledgements -------------------------------------------------------------------


async def test_markers_count_only_from_the_recipient(bot: DialogBot) -> None:
    day = Day(bot)
    jobs = day.jobs
    bot.clock.now = at(25, "12:00")
    await say(bot, "operator: new server down @w1 !urgent")
    key = await chat_key(bot, "w1", 1)

    async def row() -> tuple[object, ...]:
        async with bot.sessions() as session:
            found = await session.scalar(select(Outbox).where(Outbox.key == key))
            assert found is not None
            return found.ack_state, found.received_at, found.displayed_at

    now = bot.clock.now
    assert await row() == ("waiting", None, None)
    for jid in ("w2@example.test/phone", "head_it@example.test", "w1@evil.test/phone"):
        assert not await jobs.acknowledge(jid, key, "displayed", now)
        assert not await jobs.acknowledge(jid, key, "received", now)
    assert not await jobs.acknowledge("w1@example.test", "no-such-stanza", "displayed", now)
    sms = await chat_key(bot, "head_it", 1)  # somebody else's message
    assert not await jobs.acknowledge("w1@example.test", sms, "displayed", now)
    assert await row() == ("waiting", None, None)

    later = now + timedelta(minutes=1)
    assert await jobs.acknowledge("W1@Example.Test/laptop", key, "received", later)
    assert not await jobs.acknowledge("w1@example.test", key, "received", later)  # first only
    assert await row() == ("waiting", later, None)  # a receipt is not a reading
    assert await jobs.acknowledge("w1@example.test/phone", key, "displayed", later)
    assert not await jobs.acknowledge("w1@example.test/phone", key, "displayed", later)
    assert await row() == ("done", later, later)
    bot.delivered.clear()  # the notices themselves
    log = await day.run(25, "12:00", "12:30")
    assert log == [  # read, but not taken: that is still escalated
        "12:15 admin: #1 !urgent server down — not taken for 15 min\nFor @w1 [urgent]",
        "12:15 head_it: #1 !urgent server down — not taken for 15 min\nFor @w1 [urgent]",
    ]


async def test_a_marker_on_a_later_message_reads_the_earlier_ones(bot: DialogBot) -> None:
    """XEP-0333: a client marks the last message it shows; those before it were seen."""
    day = Day(bot)
    bot.clock.now = at(25, "12:00")
    await say(bot, "operator: new server down @w1 !urgent")
    bot.clock.now += timedelta(minutes=1)
    await say(bot, "operator: new toner low @it")
    assert await day.jobs.acknowledge(
        "w1@example.test/phone", await chat_key(bot, "w1", 2), "displayed", bot.clock.now
    )
    log = await day.run(25, "12:05", "12:12")
    assert [line for line in log if "sms" in line or "neither" in line] == []


async def test_taking_or_rerouting_stops_the_chase(bot: DialogBot) -> None:
    day = Day(bot)
    log = await day.run(
        25,
        "12:00",
        "12:40",
        {
            "12:00": ["operator: new server down @w1 !urgent", "operator: new vpn @w2 !urgent"],
            "12:03": ["w1: take #1", "head_it: assign #2 @multi"],
        },
    )
    # w1 took #1 and w2 no longer has #2: neither is chased; multi (no phone) is, at once
    assert [line for line in log if "sms" in line or "neither" in line] == [
        "12:10 head_hr: #2 !urgent vpn — neither read nor taken by @multi in 7 min\n"
        "For @multi [urgent]"
    ]


async def test_an_sms_that_went_with_the_notice_is_not_repeated(bot: DialogBot) -> None:
    assert await bot.say("admin", "staff set w1 sms on")
    day = Day(bot)
    log = await day.run(25, "12:00", "12:12", {"12:00": ["operator: new server down @w1 !urgent"]})
    assert log == [
        "12:00 head_it: #1 !urgent server down — from @operator\nNew for @w1 [urgent]",
        "12:00 w1: #1 !urgent server down — from @operator\nNew for @w1 [urgent]",
        f"12:00 sms {W1_PHONE}: #1 !urgent server down — from @operator\nNew for @w1 [urgent]",
        "12:10 head_it: #1 !urgent server down — neither read nor taken by @w1 in 10 min\n"
        "For @w1 [urgent]",
    ]


async def test_without_an_sms_provider_the_head_hears_at_once(bot: DialogBot) -> None:
    bot.core.rules = dataclasses.replace(bot.core.rules, sms=False)
    day = Day(bot)
    log = await day.run(25, "12:00", "12:12", {"12:00": ["operator: new server down @w1 !urgent"]})
    assert log[2:] == [
        "12:05 head_it: #1 !urgent server down — neither read nor taken by @w1 in 5 min\n"
        "For @w1 [urgent]"
    ]


async def test_night_sms_wait_for_morning_unless_urgent(bot: DialogBot) -> None:
    day = Day(bot)
    day.poll = True
    log = await day.run(
        25,
        "23:00",
        "23:45",
        {"23:00": ["operator: new server down @w1 !urgent", "operator: new vpn slow @w2 !high"]},
    )
    assert [line for line in log if "sms" in line or "neither" in line] == [
        f"23:05 sms {W1_PHONE}: #1 !urgent server down — from @operator\nNew for @w1 [urgent]",
        "23:10 head_it: #1 !urgent server down — neither read nor taken by @w1 in 10 min\n"
        "For @w1 [urgent]",
        "23:30 head_it: #2 !high vpn slow — neither read nor taken by @w2 in 30 min\n"
        "For @w2 [high]",
    ]  # the high one's SMS was queued at 23:15 and waits for the end of quiet hours
    log = await day.run(26, "07:50", "08:05")
    assert [line for line in log if "sms" in line] == [
        f"08:00 sms {W2_PHONE}: #2 !high vpn slow — from @operator\nNew for @w2 [high]"
    ]


# --- once, whatever happens -------------------------------------------------------------


async def test_every_job_twice_and_after_a_restart_queues_nothing_new(bot: DialogBot) -> None:
    await yesterday(bot)
    await set_mail(bot, "head_it", "head_it@corp.example", "digest")
    bot.clock.now = at(25, "08:20")
    await say(bot, "operator: new server down @w1 !urgent")
    now = at(25, "18:00")  # everything is due at once: agenda, escalations, both ack stages
    first = jobs_of(bot)
    names = ("morning_agenda", "escalate", "check_acks", "daily_digest")
    queued = {name: await getattr(first, name)(now) for name in names}
    assert queued == {"morning_agenda": 3, "escalate": 5, "check_acks": 2, "daily_digest": 1}
    size = await outbox_size(bot)
    for jobs in (first, jobs_of(bot)):  # the same object, and a new one after a restart
        for name in names:
            assert await getattr(jobs, name)(now) == 0, name
        for later in (now + timedelta(minutes=5), at(25, "23:59")):  # later the same day
            for name in names:
                assert await getattr(jobs, name)(later) == 0, name
    assert await outbox_size(bot) == size
    assert await first.morning_agenda(at(26, "08:30")) == 3  # a new day


async def test_on_outbox_is_called_only_when_something_was_queued(bot: DialogBot) -> None:
    calls: list[str] = []
    jobs = jobs_of(bot, lambda: calls.append("woken"))
    for name in ("morning_agenda", "escalate", "check_acks", "daily_digest"):
        assert await getattr(jobs, name)(at(25, "09:00")) == 0
    assert calls == []
    await yesterday(bot)
    assert await jobs.escalate(at(25, "09:00")) == 3
    assert calls == ["woken"]


# --- the agenda and escalations ---------------------------------------------------------


async def test_agenda_and_escalations_speak_each_readers_language(bot: DialogBot) -> None:
    for login in ("w1", "head_it"):
        assert await bot.say("admin", f"staff set {login} lang ru")
    await yesterday(bot)
    day = Day(bot)
    log = await day.run(25, "08:30", "08:30")
    assert [line for line in log if " w1:" in line or "head_it:" in line] == [
        "08:30 head_it: #1 !high printer jams — не взята уже 15 ч 30 мин\nДля @it [высокий]",
        "08:30 head_it: #2 quarterly report — просрочена на 1 д\nДля @w1 [обычный, ^24.11.2026]",
        "08:30 w1: На сегодня и просрочено у @w1:\n"
        "#2 [обычный, в работе] quarterly report (@it → @w1, ^24.11.2026)",
    ]


async def test_mute_holds_what_is_not_urgent(bot: DialogBot) -> None:
    await yesterday(bot)
    await say(bot, "head_it: new rack fell over @it !urgent")  # 5
    bot.delivered.clear()
    async with bot.sessions() as session, session.begin():
        await session.execute(
            update(Staff)
            .where(Staff.login.in_(["head_it", "w1"]))
            .values(muted_until=at(25, "10:00"))
        )
    day = Day(bot)
    day.poll = True
    log = await day.run(25, "08:30", "10:00")
    assert [line for line in log if " w1:" in line or "head_it:" in line] == [
        "08:30 head_it: #5 !urgent rack fell over — not taken for 15 h 30 min\nFor @it [urgent]",
        "10:00 head_it: #1 !high printer jams — not taken for 15 h 30 min\nFor @it [high]",
        "10:00 head_it: #2 quarterly report — overdue by 1 d\nFor @w1 [normal, ^24.11.2026]",
        "10:00 w1: Due today or overdue for @w1:\n"
        "#2 [normal, in progress] quarterly report (@it → @w1, ^24.11.2026)",
    ]


async def test_escalations_reach_active_heads_of_the_department_and_admins(
    bot: DialogBot,
) -> None:
    for text in ("staff set head_it role admin", "staff off head_hr"):
        assert await bot.say("admin", text)
    assert await bot.say("admin", "staff add boss boss@example.test coordinator ops +it")
    day = Day(bot)
    log = await day.run(
        25,
        "12:00",
        "12:15",
        {"12:00": ["operator: new fire @hr !urgent", "operator: new smoke @it !high"]},
    )
    escalated = [line for line in log if "not taken" in line]
    assert escalated == [  # hr has no active head: only the admins hear of its urgent one
        "12:15 admin: #1 !urgent fire — not taken for 15 min\nFor @hr [urgent]",
        "12:15 head_it: #1 !urgent fire — not taken for 15 min\nFor @hr [urgent]",
    ]
    log = await day.run(25, "13:00", "13:00")
    assert log == ["13:00 boss: #2 !high smoke — not taken for 1 h\nFor @it [high]"]  # head by +it


# --- the digest -------------------------------------------------------------------------


async def test_the_digest_reaches_heads_who_chose_it_once_a_day(bot: DialogBot) -> None:
    await yesterday(bot)
    await set_mail(bot, "head_it", "head_it@corp.example", "digest")
    await set_mail(bot, "admin", "admin@corp.example", "digest")
    await set_mail(bot, "head_hr", "head_hr@corp.example", "all")  # every notice, no digest
    await set_mail(bot, "w1", "w1@corp.example", "digest")  # not a head
    bot.clock.now = at(25, "09:00")
    await say(bot, "operator: new mouse broken @it !urgent")  # 5
    await say(bot, "operator: call reset password")  # 6, a call: not counted
    await say(bot, "w1: close #2 done")
    bot.email.take()
    jobs = jobs_of(bot)
    bot.clock.now = at(25, "18:00")
    assert await jobs.daily_digest(at(25, "18:00")) == 2
    assert await jobs.daily_digest(at(25, "18:05")) == 0
    await bot.delivery.deliver_due()
    mails = {e.address: e for e in bot.email.take()}
    assert sorted(mails) == ["admin@corp.example", "head_it@corp.example"]
    head = mails["head_it@corp.example"]
    assert head.subject == "Helpdesk digest 25.11.2026"
    assert head.text == "\n".join([
        "Open / new today / closed today / overdue:",
        "@it: 3 / 1 / 1 / 0",
        "all: 3 / 1 / 1 / 0",
        "",
        "Not taken, urgent and high:",
        "#5 [urgent, new] mouse broken (@it)",
        "#1 [high, new] printer jams (@it)",
    ])  # fmt: skip
    admin = mails["admin@corp.example"].text.splitlines()
    assert admin[1:4] == ["@hr: 1 / 0 / 0 / 0", "@it: 3 / 1 / 1 / 0", "all: 4 / 1 / 1 / 0"]

    bot.clock.now = at(26, "18:00")
    assert await jobs.daily_digest(at(26, "18:00")) == 2  # the next day
    await bot.delivery.deliver_due()
    mails = {e.address: e for e in bot.email.take()}
    assert "Overdue:\n#3 [high, in progress] replace cartridge (@it → @w2, ^25.11.2026)\n" in (
        mails["head_it@corp.example"].text
    )
    jobs.rules = dataclasses.replace(jobs.rules, email=False)  # no SMTP server configured
    assert await jobs.daily_digest(at(27, "18:00")) == 0


# --- small parts ------------------------------------------------------------------------


def test_durations_and_priorities() -> None:
    cases = [(0, "0 min"), (59, "0 min"), (900, "15 min"), (4800, "1 h 20 min"),
             (3600, "1 h"), (86400 + 3 * 3600 + 60, "1 d 3 h"), (2 * 86400, "2 d")]  # fmt: skip
    for seconds, text in cases:
        assert duration_text("en", timedelta(seconds=seconds)) == text
    assert duration_text("ru", timedelta(hours=26)) == "1 д 2 ч"
    assert by_priority({"urgent": timedelta(minutes=1), "low": timedelta(days=1)}) == {
        4: timedelta(minutes=1),
        1: timedelta(days=1),
    }
