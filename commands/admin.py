"""Admin commands: departments and staff; the command line runs the same functions."""

from __future__ import annotations

import re

from sqlalchemy import delete, func, or_, select

from commands.context import Context
from commands.errors import CommandError, UsageError
from commands.i18n import LANGUAGES
from commands.notify import e164, parse_hours
from commands.registry import ADMINS, REGISTRY
from commands.tokens import Tokens
from storage import queries
from storage.models import Department, Role, Staff, staff_departments

_SHORT = re.compile(r"[a-zа-яё0-9_-]{1,32}")
_LOGIN = re.compile(r"[a-z0-9._-]{1,64}")
_JID = re.compile(r"[^@/\s]+@[^@/\s]+\.?[^@/\s]*")
_ON = {
    "on": True,
    "yes": True,
    "true": True,
    "1": True,
    "off": False,
    "no": False,
    "false": False,
    "0": False,
}


def _role(value: str) -> Role:
    try:
        return Role(value.lower())
    except ValueError:
        raise UsageError("bad_role", value=value) from None


async def _department(ctx: Context, name: str) -> Department:
    dept = await queries.department_by_short(ctx.session, name.lstrip("@+"))
    if dept is None:
        raise UsageError("unknown_department", name=name.lstrip("@+"))
    return dept


@REGISTRY.command(
    "dept", aliases=("отдел",), usage="dept add <short> <full name>", roles=ADMINS, raw=True
)
async def dept(ctx: Context, tokens: Tokens) -> str:
    """Add a department."""
    words = tokens.words
    if len(words) < 3 or words[0].lower() not in ("add", "добавить"):
        raise UsageError("need_text")
    short, name = words[1].lower().lstrip("@"), " ".join(words[2:])
    if not _SHORT.fullmatch(short):
        raise UsageError("bad_short")
    if await queries.department_by_short(ctx.session, short):
        raise CommandError("dept_exists", short=short)
    ctx.session.add(Department(short=short, name=name))
    await ctx.session.flush()
    return ctx.t("dept_added", short=short, name=name)


@REGISTRY.command(
    "staff",
    aliases=("сотрудник",),
    roles=ADMINS,
    raw=True,
    usage="staff add <login> <jid> <role> <dept> [+dept ...] | "
    "staff set <login> role|dept|phone|sms|lang|email|mail|quiet <value> | staff off <login>",
)
async def staff(ctx: Context, tokens: Tokens) -> str:
    """Add a staff member, change one of their settings, or remove their access."""
    words = tokens.words
    action = words[0].lower() if words else ""
    if action in ("add", "добавить") and len(words) >= 5:
        return await _staff_add(ctx, words[1:])
    if action in ("set", "изменить") and len(words) >= 4:
        return await _staff_set(ctx, words[1].lower(), words[2].lower(), " ".join(words[3:]))
    if action in ("off", "отключить") and len(words) == 2:
        return await _staff_off(ctx, words[1].lower())
    raise UsageError("need_text")


async def _staff_add(ctx: Context, words: list[str]) -> str:
    login, jid, role = words[0].lower().lstrip("@"), words[1].lower(), _role(words[2])
    if not _LOGIN.fullmatch(login):
        raise UsageError("bad_login")
    if not _JID.fullmatch(jid):
        raise UsageError("bad_jid", value=jid)
    home = await _department(ctx, words[3])
    extras = [await _department(ctx, w) for w in words[4:]]
    found = (
        await ctx.session.scalars(select(Staff).where(or_(Staff.login == login, Staff.jid == jid)))
    ).all()
    if any(p.active or p.login != login for p in found):
        raise CommandError("staff_exists", login=login, jid=jid)
    # a login that was switched off comes back with its history
    person = found[0] if found else Staff(login=login, sms=False, created_at=ctx.now)
    person.jid, person.role, person.home_department_id, person.active = (
        jid,
        role.value,
        home.id,
        True,
    )
    ctx.session.add(person)
    await ctx.session.flush()
    await ctx.session.execute(
        delete(staff_departments).where(staff_departments.c.staff_id == person.id)
    )
    for extra in {d.id: d for d in extras if d.id != home.id}.values():
        await ctx.session.execute(
            staff_departments.insert().values(staff_id=person.id, department_id=extra.id)
        )
    more = "".join(f" +@{d.short}" for d in extras if d.id != home.id)
    key = "staff_back" if found else "staff_added"
    return ctx.t(key, login=login, jid=jid, role=role.value, dept=home.short, extra=more)


async def _existing(ctx: Context, login: str) -> Staff:
    person = await queries.staff_by_login(ctx.session, login.lstrip("@"))
    if person is None:
        raise UsageError("unknown_person", name=login.lstrip("@"))
    return person


async def _staff_set(ctx: Context, login: str, field: str, value: str) -> str:
    person = await _existing(ctx, login)
    shown = value.lower()
    if field == "role":
        role = _role(value)
        if person.role == Role.ADMIN and role is not Role.ADMIN:
            await _keep_an_admin(ctx, person)
        person.role = role.value
    elif field == "dept":
        person.home_department_id = (await _department(ctx, value)).id
    elif field == "phone":
        person.phone = _sms_phone(value)
        shown = person.phone or "off"
    elif field == "sms":
        if value.lower() not in _ON:
            raise UsageError("bad_value", value=value, field=field)
        person.sms = _ON[value.lower()]
    elif field == "lang":
        if value.lower() not in LANGUAGES:
            raise UsageError("bad_value", value=value, field=field)
        person.language = value.lower()
    elif field in _NOTIFICATION_FIELDS:
        shown = _NOTIFICATION_FIELDS[field](person, value)
    else:
        raise UsageError("bad_field", value=field)
    await ctx.session.flush()
    return ctx.t("staff_set", login=person.login, field=field, value=shown)


def _sms_phone(value: str) -> str | None:
    """A full number SMS can go to, stored as +E.164 (an extension is no SMS target);
    `off` for none."""
    if value.lower() == "off":
        return None
    if not re.fullmatch(r"\+?[0-9 ()-]{3,20}", value):
        raise UsageError("bad_value", value=value, field="phone")
    number = e164(value)
    if number is None:
        raise UsageError("not_full_phone", value=value)
    return number


def _set_email(person: Staff, value: str) -> str:
    if value.lower() == "off":
        person.email = None
        return "off"
    if len(value) > 255 or not _EMAIL.fullmatch(value):
        raise UsageError("bad_email", value=value)
    person.email = value
    return value


def _set_mail(person: Staff, value: str) -> str:
    if value.lower() not in _MAIL_MODES:
        raise UsageError("bad_mail", value=value)
    person.email_mode = value.lower()
    return person.email_mode


def _set_quiet(person: Staff, value: str) -> str:
    """Their own quiet hours for SMS: `22:00-08:00`, `off` (none) or `default`."""
    word = value.lower().replace(" ", "")
    if word in ("off", "default"):
        person.quiet_hours = None if word == "default" else "off"
        return word
    if not _QUIET.fullmatch(word) or parse_hours(word) is None:
        raise UsageError("bad_quiet", value=value)
    start, end = (part.zfill(5) for part in word.split("-"))
    person.quiet_hours = f"{start}-{end}"
    return person.quiet_hours


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_MAIL_MODES = ("off", "all", "digest")  # digest: meant for heads and admins, open to all
_QUIET = re.compile(r"\d{1,2}:\d{2}-\d{1,2}:\d{2}")
_NOTIFICATION_FIELDS = {"email": _set_email, "mail": _set_mail, "quiet": _set_quiet}


async def _keep_an_admin(ctx: Context, person: Staff) -> None:
    admins = await ctx.session.scalar(
        select(func.count()).select_from(Staff).where(Staff.role == Role.ADMIN.value, Staff.active)
    )
    if person.active and (admins or 0) <= 1:
        raise CommandError("last_admin", login=person.login)


async def _staff_off(ctx: Context, login: str) -> str:
    person = await _existing(ctx, login)
    if not person.active:
        raise CommandError("staff_already_off", login=person.login)
    if person.role == Role.ADMIN:
        await _keep_an_admin(ctx, person)
    person.active = False
    await ctx.session.flush()
    return ctx.t("staff_off", login=person.login)


@REGISTRY.command("sync", aliases=("синхронизация",), usage="sync", roles=ADMINS)
async def sync(ctx: Context, tokens: Tokens) -> str:
    """Import the customers from LDAP now and tell what changed."""
    tokens.only()
    if ctx.sync is None:
        raise CommandError("sync_not_configured")
    run, language = ctx.sync, ctx.actor.language

    async def after_commit() -> str:
        return await run(language)

    ctx.then = after_commit
    return ""
