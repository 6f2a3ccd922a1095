"""A person's own notification settings: `mute [hours]` and `unmute`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from commands.context import Context
from commands.errors import UsageError
from commands.registry import REGISTRY
from commands.tokens import Tokens
from storage import outbox
from storage.models import Staff

DEFAULT_HOURS = 1
MAX_HOURS = 72


def mute_hours(tokens: Tokens) -> int:
    """The hours of `mute [hours]`: a whole number from 1 to 72, 1 when not given."""
    tokens.only("words")
    if not tokens.words:
        return DEFAULT_HOURS
    word = " ".join(tokens.words)
    if not re.fullmatch(r"\d{1,2}", word) or not 1 <= int(word) <= MAX_HOURS:
        raise UsageError("bad_mute_hours", value=word, most=MAX_HOURS)
    return int(word)


async def _me(ctx: Context) -> Staff:
    # the Actor carries no settings: mute lives on the Staff row that notify reads
    staff = await ctx.session.get(Staff, ctx.actor.id)
    assert staff is not None  # the actor was loaded in this transaction
    return staff


def _until_text(ctx: Context, until: datetime) -> str:
    local = ctx.local(until)
    if local.date() == ctx.today:
        return local.strftime("%H:%M")
    return local.strftime("%d.%m.%Y %H:%M")


@REGISTRY.command("mute", aliases=("тихо",), usage="mute [hours]")
async def mute(ctx: Context, tokens: Tokens) -> str:
    """Hold back notifications that are not urgent for some hours (1 by default)."""
    hours = mute_hours(tokens)
    staff = await _me(ctx)
    until = ctx.now + timedelta(hours=hours)
    if staff.muted_until is not None and staff.muted_until > until:
        # a shorter mute replaces a longer one: what waits for the old end comes sooner
        await outbox.release(ctx.session, staff.id, ctx.now)
    staff.muted_until = until
    await outbox.hold(ctx.session, staff.id, until, ctx.now)
    await ctx.session.flush()
    return ctx.t("muted", until=_until_text(ctx, until))


@REGISTRY.command("unmute", aliases=("звук",), usage="unmute")
async def unmute(ctx: Context, tokens: Tokens) -> str:
    """Let notifications through again, with what was held back meanwhile."""
    tokens.only()
    staff = await _me(ctx)
    if staff.muted_until is None or staff.muted_until <= ctx.now:
        staff.muted_until = None
        return ctx.t("not_muted")
    staff.muted_until = None
    released = await outbox.release(ctx.session, staff.id, ctx.now)
    await ctx.session.flush()
    ctx.queued += released  # the bot delivers them right after the commit
    return ctx.t("unmuted", count=released) if released else ctx.t("unmuted_none")
