"""`helpdesk run`: the bot, its outbox delivery and the scheduler in one asyncio process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.config import Config
from bot.delivery import OutboxDelivery
from bot.directory import Directory
from bot.xmpp import ChatChannel, HelpdeskBot
from commands.core import Helpdesk
from storage import migrate
from storage.db import make_engine, make_sessions

log = logging.getLogger(__name__)


def _scheduler(config: Config, core: Helpdesk, directory: Directory | None) -> AsyncIOScheduler:
    """The jobs; created inside the running loop, as APScheduler wants."""
    scheduler = AsyncIOScheduler(timezone=config.schedule.timezone)
    if directory is not None:
        nightly = CronTrigger.from_crontab(
            config.schedule.ldap_sync, timezone=config.schedule.timezone
        )
        scheduler.add_job(directory.nightly, nightly, id="ldap_sync")
    scheduler.add_job(
        core.prune_handled,
        "cron",
        hour=3,
        minute=17,
        id="prune_handled",
        kwargs={"older_than": timedelta(days=30)},
    )
    return scheduler


async def run(config: Config, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set), then shut down cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    engine = make_engine(config.database.url)
    try:
        applied = await migrate.upgrade(engine)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        sessions = make_sessions(engine)
        core = Helpdesk(sessions, language=config.language, timezone=config.schedule.timezone)
        xmpp = HelpdeskBot(config.xmpp, core.handle)
        delivery = OutboxDelivery(sessions, {"xmpp": ChatChannel(xmpp)})
        core.on_outbox = delivery.wake
        xmpp.add_event_handler("session_start", lambda _e: delivery.wake())
        directory = Directory(config, sessions) if config.ldap is not None else None
        if directory is not None:
            core.sync, core.enroll = directory.sync, directory.enroll
            members = asyncio.create_task(directory.refresh_members(), name="staff group")
        scheduler = _scheduler(config, core, directory)
        scheduler.start()
        xmpp.start()
        delivering = asyncio.create_task(delivery.run(), name="outbox")
        await stop.wait()
        log.info("stopping")
        delivering.cancel()
        scheduler.shutdown(wait=False)
        await xmpp.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await delivering
        if directory is not None:
            members.cancel()
    finally:
        await engine.dispose()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
