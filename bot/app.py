"""`helpdesk run`: the bot, its outbox delivery and the scheduler in one asyncio process."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from slixmpp.exceptions import IqError, IqTimeout
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.adhoc import AdhocCommands
from bot.channels import Channel
from bot.config import Config
from bot.delivery import OutboxDelivery
from bot.directory import Directory
from bot.files import FileReceiver
from bot.mail import MailChannel
from bot.presence import StaffPresence
from bot.receipts import Acknowledgements
from bot.rooms import DepartmentRooms
from bot.sms import SmsChannel, make_sms_channel
from bot.xmpp import ChatChannel, HelpdeskBot
from commands.core import Helpdesk
from commands.i18n import t
from commands.jobs import Jobs, by_priority
from commands.notify import Rules
from storage import migrate, queries
from storage.clock import utcnow
from storage.db import Sessions, make_engine, make_sessions
from storage.models import Staff
from web_readonly.app import init_app, make_runner
from web_readonly.files import ATTACHMENTS

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

ROSTER_SYNC = timedelta(minutes=5)
CATCH_UP = timedelta(hours=4)  # how late a missed agenda or digest is still sent
SETTLE = 10.0  # seconds a stop waits for commands and jobs in flight


class InFlight:
    """Counts the commands and jobs running, so a stop lets them finish their
    transaction before the database engine goes away."""

    def __init__(self) -> None:
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def track(self, work: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(work)
        async def tracked(*args: P.args, **kwargs: P.kwargs) -> T:
            self._running += 1
            self._idle.clear()
            try:
                return await work(*args, **kwargs)
            finally:
                self._running -= 1
                if not self._running:
                    self._idle.set()

        return tracked

    async def settle(self, timeout: float = SETTLE) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)


class _Staff:
    """Who is staff, for the roster and the rooms: asked of the database each time."""

    def __init__(self, sessions: Sessions, language: str) -> None:
        self.sessions = sessions
        self.language = language

    async def is_staff(self, jid: str) -> bool:
        async with self.sessions() as session:
            return await queries.actor_for_jid(session, jid, self.language) is not None

    async def jids(self) -> set[str]:
        async with self.sessions() as session:
            rows = await session.scalars(select(Staff.jid).where(Staff.active.is_(True)))
            return {jid.lower() for jid in rows}


def _rules(config: Config, presence: StaffPresence) -> Rules:
    return Rules(
        timezone=ZoneInfo(config.schedule.timezone),
        available=presence.available,
        sms=config.sms is not None,
        email=config.email is not None,
        quiet_hours=config.notifications.quiet_hours,
        ack_within=by_priority(config.escalation.ack_within),
        rooms=dict(config.xmpp.rooms),
    )


def missed_today(trigger: CronTrigger, now: datetime, within: timedelta = CATCH_UP) -> bool:
    """Whether the trigger fired earlier today, less than `within` ago (`now` naive UTC):
    a process started at 08:45 still sends the 08:30 agenda. A memory job store forgets
    runs; the jobs' outbox keys make a second run of the day send nothing."""
    local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(trigger.timezone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    fired = trigger.get_next_fire_time(None, midnight)
    return fired is not None and fired <= local < fired + within


def _scheduler(
    config: Config,
    core: Helpdesk,
    jobs: Jobs,
    directory: Directory | None,
    roster: Callable[[], Awaitable[None]],
    clock: Callable[[], datetime],
    inflight: InFlight,
) -> AsyncIOScheduler:
    """The jobs; created inside the running loop, as APScheduler wants. Every job is
    idempotent (outbox keys per ticket and day), so a late or repeated run is harmless."""
    tz = config.schedule.timezone
    scheduler = AsyncIOScheduler(
        timezone=tz, job_defaults={"coalesce": True, "misfire_grace_time": 3600}
    )

    def at(job: Callable[[datetime], Awaitable[int]]) -> Callable[[], Awaitable[int]]:
        async def now() -> int:  # a coroutine function, so APScheduler awaits it
            return await job(clock())

        now.__name__ = job.__name__
        return inflight.track(now)

    for name, cron, job in (
        ("agenda", config.schedule.agenda, jobs.morning_agenda),
        ("digest", config.notifications.digest, jobs.daily_digest),
    ):
        trigger = CronTrigger.from_crontab(cron, timezone=tz)
        scheduler.add_job(at(job), trigger, id=name)
        if missed_today(trigger, clock()):  # started late today: catch up (keys dedupe)
            scheduler.add_job(at(job), id=f"{name} missed")
    scheduler.add_job(at(jobs.escalate), "interval", minutes=1, id="escalate")
    # often enough for the shortest acknowledgement window: half of it, 1 to 30 s
    windows = [w.total_seconds() for w in config.escalation.ack_within.values()]
    every = max(1.0, min(30.0, min(windows, default=60.0) / 2))
    scheduler.add_job(at(jobs.check_acks), "interval", seconds=every, id="acks")
    roster_every = ROSTER_SYNC.total_seconds()
    scheduler.add_job(inflight.track(roster), "interval", seconds=roster_every, id="roster")
    if directory is not None:
        nightly = CronTrigger.from_crontab(config.schedule.ldap_sync, timezone=tz)
        scheduler.add_job(inflight.track(directory.nightly), nightly, id="ldap_sync")
    scheduler.add_job(
        inflight.track(core.prune_handled),
        "cron",
        hour=3,
        minute=17,
        id="prune_handled",
        kwargs={"older_than": timedelta(days=30)},
    )
    return scheduler


async def _serve_page(
    config: Config, sessions: Sessions, clock: Callable[[], datetime]
) -> tuple[web.AppRunner, AsyncEngine]:
    """The read-only web page on web.listen, in this process; its reports read through
    an engine of their own that never takes SQLite's write lock."""
    reader = make_engine(config.database.url, readonly=True)
    app = init_app(
        sessions,
        config.web,
        clock=clock,
        language=config.language,
        timezone=config.schedule.timezone,
        read_sessions=make_sessions(reader),
        ldap=config.ldap,  # for /sign-in when web.ldap_login is on
    )
    app[ATTACHMENTS] = Path(config.attachments.folder)  # the files it may serve
    runner = make_runner(app)
    await runner.setup()
    host, port = config.web.host_port()
    await web.TCPSite(runner, host, port).start()
    log.info("web page on http://%s:%d/, linked as %s", host, port, config.web.public_url)
    return runner, reader


async def run(
    config: Config,
    stop: asyncio.Event | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set), then shut down cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    engine = make_engine(config.database.url)
    sms: SmsChannel | None = None
    page: tuple[web.AppRunner, AsyncEngine] | None = None
    try:
        applied = await migrate.upgrade(engine)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        sessions = make_sessions(engine)
        staff = _Staff(sessions, config.language)
        core = Helpdesk(
            sessions, language=config.language, timezone=config.schedule.timezone, clock=clock
        )
        inflight = InFlight()
        handle = inflight.track(core.handle)
        xmpp = HelpdeskBot(config.xmpp, handle, sessions=sessions, language=config.language)
        # XEP-0050 forms on the same core; a form shows whether its command went through
        AdhocCommands(xmpp, core, inflight.track(core.answer))
        files = FileReceiver(core, config.attachments, config.xmpp, xmpp.previous_body)
        xmpp.file_handler = inflight.track(files)  # XEP-0363 uploads land on tickets
        presence = StaffPresence(xmpp, staff.is_staff)
        core.rules = _rules(config, presence)
        channels: dict[str, Channel] = {"xmpp": ChatChannel(xmpp)}
        rooms = None
        if config.xmpp.rooms:
            by_room = {room: short for short, room in config.xmpp.rooms.items()}
            nick = xmpp.boundjid.user or "helpdesk"
            notice = t(config.language, "room.hidden_jids")
            rooms = DepartmentRooms(
                xmpp, by_room, nick, handle, staff.is_staff, hidden_jids_notice=notice
            )
            channels["room"] = rooms
        if config.sms is not None:
            sms = make_sms_channel(config.sms)
            channels["sms"] = sms
        if config.email is not None:
            channels["email"] = MailChannel(config.email)
        delivery = OutboxDelivery(
            sessions, channels, clock=clock, max_attempts=config.notifications.max_attempts
        )
        core.on_outbox = delivery.wake
        jobs = Jobs(
            sessions,
            core.rules,
            language=config.language,
            take_within=by_priority(config.escalation.take_within),
            on_outbox=delivery.wake,
        )

        async def acknowledged(
            sender: str, message_id: str, kind: Literal["received", "displayed"]
        ) -> None:
            await jobs.acknowledge(sender, message_id, kind, clock())

        Acknowledgements(xmpp, inflight.track(acknowledged))

        async def sync_roster() -> None:
            if not xmpp.online.is_set():
                return
            try:
                await presence.sync(await staff.jids())
            except (IqError, IqTimeout) as exc:  # tried again on the next sync
                log.warning("could not bring the roster up to date: %s", type(exc).__name__)

        async def on_session_start(_event: object) -> None:
            delivery.wake()
            await sync_roster()

        xmpp.add_event_handler("session_start", on_session_start)
        directory = Directory(config, sessions) if config.ldap is not None else None
        if directory is not None:
            core.sync, core.enroll = directory.sync, directory.enroll
            members = asyncio.create_task(directory.refresh_members(), name="staff group")
        scheduler = _scheduler(config, core, jobs, directory, sync_roster, clock, inflight)
        scheduler.start()
        if config.web.public_url is not None:  # the page's links need its public address
            core.web_url, core.link_lifetime = config.web.public_url, config.web.link_lifetime
            page = await _serve_page(config, sessions, clock)
        xmpp.start()
        delivering = asyncio.create_task(delivery.run(), name="outbox")
        await stop.wait()
        log.info("stopping")
        scheduler.shutdown(wait=False)
        if rooms is not None:
            await rooms.leave_all()
        await xmpp.stop()
        await delivery.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await delivering
        if directory is not None:
            members.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await members
        await inflight.settle()
    finally:
        if page is not None:
            await page[0].cleanup()
            await page[1].dispose()
        if sms is not None:
            await sms.close()
        await engine.dispose()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
