"""Typed keys of what the web application and each request carry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import WebConfig
from storage.access import Actor

SESSIONS = web.AppKey[async_sessionmaker[AsyncSession]]("sessions")
# the reports' sessions: on SQLite they never take the write lock (storage/db.py)
READ_SESSIONS = web.AppKey[async_sessionmaker[AsyncSession]]("read_sessions")
CONFIG = web.AppKey("config", WebConfig)
CLOCK = web.AppKey[Callable[[], datetime]]("clock")  # naive UTC, as stored
SECURE = web.AppKey("secure", bool)  # cookies only over https
LANGUAGE = web.AppKey("language", str)  # of pages shown before anyone signed in
TEMPLATES = web.AppKey("templates", jinja2.Environment)

# the signed-in person, set by auth.require_login for every view that is not public
ACTOR = web.RequestKey("actor", Actor)
