"""Ad-hoc commands (XEP-0050) with data forms (XEP-0004) on the bot's full JID: each
submitted form becomes the equivalent chat command and runs through the same core."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from slixmpp import JID
from slixmpp.exceptions import XMPPError
from slixmpp.plugins.xep_0030.stanza.info import DiscoInfo
from slixmpp.plugins.xep_0030.stanza.items import DiscoItems
from sqlalchemy import select

from commands.context import Context
from commands.core import Answer, Helpdesk
from commands.errors import CommandError
from commands.forms import (
    call_command,
    new_command,
    plan_command,
    ticket_command,
    who_command,
)
from commands.i18n import t
from commands.planning import LIST_LIMIT, ticket_lines
from commands.registry import WORKERS
from commands.tokens import PRIORITY_NAMES, normalize, parse_due
from storage import queries
from storage.access import Actor
from storage.customer_search import find_customers
from storage.models import Customer, Department, Role, Staff

log = logging.getLogger(__name__)

COMMANDS_NS = "http://jabber.org/protocol/commands"
DATA_NS = "jabber:x:data"
NODES = ("new", "call", "find", "mine", "plan")  # labels are the i18n keys adhoc.<node>
HEADS = frozenset({Role.ADMIN, Role.COORDINATOR})
SESSION_LIFETIME = 600.0  # seconds a form waits for its next answer; read at each check
PICK_LIMIT = 20  # customers a pick step lists
PRIORITIES = tuple(PRIORITY_NAMES.values())  # low, normal, high, urgent
ACTIONS = ("take", "close")

Handle = Callable[[str, str, str | None], Awaitable[Answer]]  # Helpdesk.answer
Session = dict[str, Any]  # slixmpp's session of one form, with our hd_* keys
Values = dict[str, list[str]]
Compose = Callable[[int | None], str]  # a customer id (or none) -> the command text

_ACTOR: contextvars.ContextVar[Actor] = contextvars.ContextVar("adhoc_actor")
_NUMBER = re.compile(r"[0-9]{1,9}")


def may_use(node: str, role: Role) -> bool:
    return role in HEADS if node == "plan" else True


def form_values(payload: Any) -> Values:
    """The submitted fields, each as its list of values (a client may leave out the
    field types, so slixmpp's own reading of them is not relied on)."""
    values: Values = {}
    for form in payload if isinstance(payload, list) else [payload]:
        if getattr(form, "plugin_attrib", None) != "form":
            continue
        for var, field in form.get_fields().items():
            found = field.xml.findall(f"{{{DATA_NS}}}value")
            values[str(var)] = [value.text or "" for value in found]
    return values


def _one(values: Values, var: str) -> str:
    """A single or multi-line text field, its lines joined."""
    return "\n".join(values.get(var, [])).strip()


def _choice(values: Values, var: str, allowed: list[str] | tuple[str, ...], field: str) -> str:
    value = _one(values, var)
    if value not in allowed:
        raise CommandError("adhoc.bad_choice", value=value, field=field)
    return value


def _done(session: Session, note: str, kind: str = "info") -> Session:
    session.update(payload=None, next=None, has_next=False, notes=[(kind, note)] if note else [])
    return session


class AdhocCommands:
    """Registers xep_0004 and xep_0050 on the bot and serves the forms: New ticket,
    Record a call, Find customer, My tickets, Plan tomorrow (heads only).

    Every command stanza passes `_on_command` first: strangers are refused, a form's
    session answers only the person who opened it and expires after SESSION_LIFETIME
    seconds without an answer."""

    def __init__(self, xmpp: Any, core: Helpdesk, handle: Handle) -> None:
        self.xmpp = xmpp
        self.core = core
        self.handle = handle
        xmpp.register_plugin("xep_0004")
        xmpp.register_plugin("xep_0050")
        self.plugin = xmpp.plugin["xep_0050"]
        # our guard runs each command stanza, then hands it to the plugin's own dispatch
        xmpp.del_event_handler("command", self.plugin._handle_command_all)
        xmpp.add_event_handler("command", self._on_command)
        xmpp.add_event_handler("session_start", self._on_session_start)
        self._starts = {
            "new": self._new_start, "call": self._call_start, "find": self._find_start,
            "mine": self._mine_start, "plan": self._plan_start,
        }  # fmt: skip

    def _on_session_start(self, _event: object) -> None:
        """Commands live on the full JID, which may change with each connection."""
        me = JID(self.xmpp.boundjid.full)
        for node in NODES:
            name = t("en", f"adhoc.{node}")
            self.plugin.add_command(jid=me, node=node, name=name, handler=self._starts[node])
        disco = self.xmpp.plugin["xep_0030"]
        disco.set_node_handler("get_items", jid=me, node=COMMANDS_NS, handler=self._items)
        for node in NODES:  # a command's details, like the list, only for who may run it
            disco.set_node_handler("get_info", jid=me, node=node, handler=self._info)

    # -- who may see and run what -------------------------------------------------

    async def _actor(self, jid: Any) -> Actor | None:
        bare = str(JID(jid).bare).lower()
        async with self.core.sessions() as session, session.begin():
            actor = await queries.actor_for_jid(session, bare, self.core.language)
            if actor is None and self.core.enroll is not None:
                actor = await self.core.enroll(session, bare)
            return actor

    async def _items(self, jid: Any, node: Any, ifrom: Any, data: Any) -> Any:
        """The command list for this requester: nothing for a stranger."""
        items = DiscoItems()
        items["node"] = COMMANDS_NS
        try:
            actor = await self._actor(ifrom) if ifrom else None
        except Exception:
            log.exception("could not list the ad-hoc commands for %s", ifrom)
            return items
        if actor is None:
            return items
        for name in NODES:
            if may_use(name, actor.role):
                label = t(actor.language, f"adhoc.{name}")
                items.add_item(JID(self.xmpp.boundjid.full), node=name, name=label)
        return items

    async def _info(self, jid: Any, node: Any, ifrom: Any, data: Any) -> Any:
        """A command's disco#info (XEP-0050's identity and features) in the requester's
        language; for a stranger, or a command they may not use, the node does not exist."""
        try:
            actor = await self._actor(ifrom) if ifrom else None
        except Exception:
            log.exception("could not describe the ad-hoc command %s for %s", node, ifrom)
            actor = None
        if actor is None or node not in NODES or not may_use(str(node), actor.role):
            raise XMPPError("item-not-found", etype="cancel")
        info = DiscoInfo()
        info["node"] = node
        label = t(actor.language, f"adhoc.{node}")
        info.add_identity("automation", "command-node", name=label)
        info.add_feature(COMMANDS_NS)
        info.add_feature(DATA_NS)
        return info

    async def _on_command(self, iq: Any) -> None:
        """Refuse strangers, forbidden commands and foreign or expired sessions; then
        let the plugin run the step. Errors become one line, never a traceback."""
        language = self.core.language
        try:
            self._sweep()
            actor = await self._actor(iq["from"])
            if actor is None:
                raise XMPPError("forbidden", t(language, "stranger"), etype="auth")
            language = actor.language
            node = iq["command"]["node"]
            if node not in NODES:
                raise XMPPError("item-not-found", etype="cancel")
            if not may_use(node, actor.role):
                raise XMPPError("forbidden", t(language, "adhoc.forbidden"), etype="auth")
            self._own_session(iq, actor)
            token = _ACTOR.set(actor)
            try:
                await self.plugin._handle_command_all(iq)
            finally:
                _ACTOR.reset(token)
            self._sweep()
        except XMPPError:
            raise
        except Exception:
            ref = secrets.token_hex(3)
            log.exception("ad-hoc command failed (ref %s)", ref)
            text = t(language, "internal_error", ref=ref)
            raise XMPPError("internal-server-error", text, etype="wait") from None

    def _own_session(self, iq: Any, actor: Actor) -> None:
        sessionid = iq["command"]["sessionid"]
        if not sessionid:
            if iq["command"]["action"] != "execute":
                raise XMPPError("bad-request", extension="bad-action", extension_ns=COMMANDS_NS)
            return
        session = self.plugin.sessions.get(sessionid)
        if (
            session is None
            or JID(session["from"]).bare != iq["from"].bare
            or session["node"] != iq["command"]["node"]
        ):
            minutes = max(1, round(SESSION_LIFETIME / 60))
            raise XMPPError(
                "not-allowed",
                t(actor.language, "adhoc.expired", minutes=minutes),
                etype="cancel",
                extension="session-expired",
                extension_ns=COMMANDS_NS,
            )
        session.update(hd_action=iq["command"]["action"], hd_touched=time.monotonic())

    def _sweep(self) -> None:
        """Forget finished forms and those unanswered for SESSION_LIFETIME."""
        now = time.monotonic()
        sessions = self.plugin.sessions
        for sessionid, session in list(sessions.items()):
            if str(sessionid).startswith("client:"):
                continue  # the plugin's client side, not ours
            touched = session.get("hd_touched", now)
            if session.get("next") is None or now - touched >= SESSION_LIFETIME:
                del sessions[sessionid]

    def _ask(self, session: Session, form: Any, step: Any, *, has_next: bool) -> Session:
        """Show a form and wait for its answer (sweeping it away if none comes)."""
        session.update(
            payload=form, next=step, has_next=has_next, allow_complete=False, notes=None,
            hd_touched=time.monotonic(),
        )  # fmt: skip
        asyncio.get_running_loop().call_later(SESSION_LIFETIME + 1, self._sweep)
        return session

    def _again(self, session: Session, form: Any, error: CommandError) -> Session:
        """Bad input: the same form again, as filled in, with a one-line note."""
        note = t(_ACTOR.get().language, error.key, **error.params)
        if session.get("hd_action") == "complete":  # the client ends the form anyway
            return _done(session, note, "error")
        session.update(payload=form, notes=[("error", note)])
        return session

    async def _run(self, session: Session, command: str) -> Session:
        """The chat command through the chat's entry point; its reply is the note, an
        error note when the command did not go through."""
        answer = await self.handle(str(session["from"]), command, None)
        return _done(session, answer.text or "", "info" if answer.ok else "error")

    # -- building forms -----------------------------------------------------------

    def _form(self, node: str, instructions: str) -> Any:
        language = _ACTOR.get().language
        return self.xmpp.plugin["xep_0004"].make_form(
            ftype="form", title=t(language, f"adhoc.{node}"), instructions=instructions
        )

    def _field(
        self,
        form: Any,
        var: str,
        ftype: str,
        value: str | list[str] | None = None,
        *,
        required: bool = False,
        options: list[tuple[str, str]] | None = None,
    ) -> None:
        label = _label(var)
        choices = [{"value": v, "label": text} for v, text in options or []]
        form.add_field(var=var, ftype=ftype, label=label, required=required,
                       value=value or None, options=choices or None)  # fmt: skip

    def _priority_field(self, form: Any, values: Values) -> None:
        language = _ACTOR.get().language
        options = [(name, t(language, f"prio.{n}")) for n, name in PRIORITY_NAMES.items()]
        value = _one(values, "priority") or "normal"
        self._field(form, "priority", "list-single", value, required=True, options=options)

    def _text_field(self, form: Any, values: Values, var: str = "text") -> None:
        self._field(form, var, "text-multi", _one(values, var), required=var == "text")

    # -- picking a customer -------------------------------------------------------

    async def _customers(self, query: str) -> tuple[list[Customer], int]:
        """As `from <who>` finds them (commands/lookup.py): a full name that also begins
        other names means the one whose words it has whole."""
        async with self.core.sessions() as session:
            found, total = await find_customers(session, query, limit=PICK_LIMIT)
            if total > 1 and len(query.split()) > 1:
                whole, whole_total = await find_customers(session, query, limit=1, whole_words=True)
                if whole_total == 1:
                    return whole, 1
        return found, total

    def _customer_label(self, customer: Customer) -> str:
        language = _ACTOR.get().language
        details = [
            customer.department,
            customer.room and t(language, "who_room", room=customer.room),
        ]
        details += [customer.phones, None if customer.active else t(language, "who_inactive")]
        shown = ", ".join(d for d in details if d)
        return f"{customer.full_name}{' — ' + shown if shown else ''} (c{customer.id})"

    async def _for_customer(self, session: Session, query: str, compose: Compose) -> Session:
        """One match runs the command at once; several show a pick step; none is an
        error (raised: the caller shows its form again)."""
        if not query:
            return await self._run(session, compose(None))
        found, total = await self._customers(query)
        if total == 0:
            raise CommandError("no_customer", who=query)
        if total == 1:
            return await self._run(session, compose(found[0].id))
        if session.get("hd_action") == "complete":
            raise CommandError("adhoc.pick_first", query=query, count=total)
        choices = [(str(c.id), self._customer_label(c)) for c in found]
        session.update(hd_compose=compose, hd_choices=choices, hd_query=query, hd_total=total)
        return self._ask(session, self._pick_form(session, {}), self._pick_submit, has_next=False)

    def _pick_form(self, session: Session, values: Values) -> Any:
        language = _ACTOR.get().language
        choices, total = session["hd_choices"], session["hd_total"]
        text = t(language, "adhoc.pick.instructions", query=session["hd_query"], count=total)
        if total > len(choices):
            text += " " + t(language, "adhoc.pick.more", shown=len(choices))
        form = self._form(session["node"], text)
        self._field(form, "pick", "list-single", _one(values, "pick"), required=True,
                    options=choices)  # fmt: skip
        return form

    async def _pick_submit(self, payload: Any, session: Session) -> Session:
        values = form_values(payload)
        offered = [value for value, _ in session["hd_choices"]]
        try:
            command = session["hd_compose"](int(_choice(values, "pick", offered, _label("pick"))))
        except CommandError as error:
            return self._again(session, self._pick_form(session, values), error)
        return await self._run(session, command)

    # -- New ticket ---------------------------------------------------------------

    async def _targets(self) -> list[tuple[str, str]]:
        """Departments, then people: what `@target` may name."""
        language = _ACTOR.get().language
        async with self.core.sessions() as session:
            depts = (await session.execute(select(Department.short, Department.name)
                                           .order_by(Department.short))).all()  # fmt: skip
            people = await session.scalars(
                select(Staff.login).where(Staff.active).order_by(Staff.login)
            )
            logins = list(people)
        options = [(s, t(language, "adhoc.option.department", short=s, name=n)) for s, n in depts]
        known = {short for short, _ in depts}
        return options + [(login, f"@{login}") for login in logins if login not in known]

    async def _new_form(self, values: Values) -> Any:
        actor = _ACTOR.get()
        form = self._form("new", t(actor.language, "adhoc.new.instructions"))
        self._field(form, "customer", "text-single", _one(values, "customer"))
        self._text_field(form, values)
        targets = await self._targets()
        home = await self._home_short(actor)
        target = _one(values, "target") or home
        self._field(form, "target", "list-single", target, required=True, options=targets)
        self._priority_field(form, values)
        self._field(form, "due", "text-single", _one(values, "due"))
        return form

    async def _home_short(self, actor: Actor) -> str:
        async with self.core.sessions() as session:
            names = await self.core.departments(session, actor.home_department_id)
        return names.get(actor.home_department_id, "")

    async def _new_start(self, iq: Any, session: Session) -> Session:
        return self._ask(session, await self._new_form({}), self._new_submit, has_next=True)

    async def _new_submit(self, payload: Any, session: Session) -> Session:
        values = form_values(payload)
        try:
            text = _need_text(values)
            targets = [value for value, _ in await self._targets()]
            target = _choice(values, "target", targets, _label("target"))
            priority = _choice(values, "priority", PRIORITIES, _label("priority"))
            due_text = _one(values, "due")
            due = parse_due(due_text, self._today()) if due_text else None
            compose = partial(new_command, text, target=target, priority=priority, due=due)
            compose(None)  # the text is checked before anything is looked up
            return await self._for_customer(session, _query(values, "customer"), compose)
        except CommandError as error:
            return self._again(session, await self._new_form(values), error)

    def _today(self) -> date:
        now = self.core.clock().replace(tzinfo=ZoneInfo("UTC"))
        return now.astimezone(self.core.timezone).date()

    # -- Record a call ------------------------------------------------------------

    def _call_form(self, values: Values) -> Any:
        form = self._form("call", t(_ACTOR.get().language, "adhoc.call.instructions"))
        self._field(form, "customer", "text-single", _one(values, "customer"))
        self._text_field(form, values)
        return form

    async def _call_start(self, iq: Any, session: Session) -> Session:
        return self._ask(session, self._call_form({}), self._call_submit, has_next=True)

    async def _call_submit(self, payload: Any, session: Session) -> Session:
        values = form_values(payload)
        try:
            compose = partial(call_command, _need_text(values))
            compose(None)
            return await self._for_customer(session, _query(values, "customer"), compose)
        except CommandError as error:
            return self._again(session, self._call_form(values), error)

    # -- Find customer ------------------------------------------------------------

    def _find_form(self, values: Values) -> Any:
        form = self._form("find", t(_ACTOR.get().language, "adhoc.find.instructions"))
        self._field(form, "query", "text-single", _one(values, "query"), required=True)
        return form

    async def _find_start(self, iq: Any, session: Session) -> Session:
        return self._ask(session, self._find_form({}), self._find_submit, has_next=True)

    async def _find_submit(self, payload: Any, session: Session) -> Session:
        values = form_values(payload)
        try:
            query = _query(values, "query").removeprefix("@")  # as `who @ivanov`
            if not query:
                raise CommandError("need_text")
            return await self._for_customer(session, query, who_command)
        except CommandError as error:
            return self._again(session, self._find_form(values), error)

    # -- My tickets ---------------------------------------------------------------

    async def _mine_form(self, values: Values) -> Any | None:
        """The open tickets `list mine` shows, to pick; None when there are none."""
        actor = _ACTOR.get()
        async with self.core.sessions() as db:
            flt = queries.ListFilter(mine=True)
            tickets, total = await queries.open_tickets(db, actor, flt, LIST_LIMIT)
            ctx = Context(db, actor, self.core.clock(), self.core.timezone, self.core.language,
                          self.core.departments)  # fmt: skip
            lines = await ticket_lines(ctx, tickets)
        if not tickets:
            return None
        text = t(actor.language, "adhoc.mine.instructions")
        if total > len(tickets):
            text += " " + t(actor.language, "list_more", count=total - len(tickets))
        form = self._form("mine", text)
        options = [(str(ticket.id), " ".join(line.split())) for ticket, line in
                   zip(tickets, lines, strict=True)]  # fmt: skip
        picked = values.get("tickets", [])
        self._field(form, "tickets", "list-multi", picked, required=True, options=options)
        actions = [a for a in ACTIONS if a != "take" or actor.role in WORKERS]
        labels = [(a, t(actor.language, f"adhoc.action.{a}")) for a in actions]
        action = _one(values, "action") or actions[0]
        self._field(form, "action", "list-single", action, required=True, options=labels)
        self._field(form, "resolution", "text-single", _one(values, "resolution"))
        return form

    async def _mine_start(self, iq: Any, session: Session) -> Session:
        form = await self._mine_form({})
        if form is None:
            return _done(session, t(_ACTOR.get().language, "list_empty"))
        return self._ask(session, form, self._mine_submit, has_next=False)

    async def _mine_submit(self, payload: Any, session: Session) -> Session:
        """Each ticket's command on its own, as if typed one after the other; the note
        says what happened to each."""
        values = form_values(payload)
        language = _ACTOR.get().language
        try:
            action = _choice(values, "action", ACTIONS, _label("action"))
            numbers = list(dict.fromkeys(v.strip().lstrip("#") for v in values.get("tickets", [])))
            if not numbers or not all(_NUMBER.fullmatch(n) for n in numbers):
                raise CommandError("adhoc.need_tickets")
            resolution = _one(values, "resolution") if action == "close" else ""
            commands = [ticket_command(action, int(n), resolution) for n in numbers]
        except CommandError as error:
            form = await self._mine_form(values)
            if form is None:  # nothing of theirs is open any more
                return _done(session, t(language, "list_empty"), "error")
            return self._again(session, form, error)
        answers = [await self.handle(str(session["from"]), c, None) for c in commands]
        done = [a.ok for a in answers]
        kind = "info" if all(done) else "error" if not any(done) else "warn"
        return _done(session, "\n".join(a.text for a in answers if a.text), kind)

    # -- Plan tomorrow ------------------------------------------------------------

    async def _plannable(self, actor: Actor) -> list[str]:
        """Whom a head may plan for: people of their departments (as `agenda @login`
        allows); an admin, anyone."""
        async with self.core.sessions() as session:
            if actor.role is Role.ADMIN:
                rows = await session.scalars(select(Staff).where(Staff.active))
                staff = list(rows)
            else:
                depts = set(actor.department_ids)
                staff = list(await queries.staff_of_departments(session, depts, set(Role)))
        return sorted({person.login for person in staff})

    async def _plan_form(self, values: Values) -> Any:
        actor = _ACTOR.get()
        form = self._form("plan", t(actor.language, "adhoc.plan.instructions"))
        people = [(login, f"@{login}") for login in await self._plannable(actor)]
        self._field(form, "person", "list-single", _one(values, "person"), required=True,
                    options=people)  # fmt: skip
        self._text_field(form, values)
        self._priority_field(form, values)
        return form

    async def _plan_start(self, iq: Any, session: Session) -> Session:
        return self._ask(session, await self._plan_form({}), self._plan_submit, has_next=False)

    async def _plan_submit(self, payload: Any, session: Session) -> Session:
        values = form_values(payload)
        actor = _ACTOR.get()
        try:
            person = _one(values, "person")
            if person not in await self._plannable(actor):
                if not person:
                    raise CommandError("adhoc.bad_choice", value="", field=_label("person"))
                raise CommandError("adhoc.not_your_person", name=person)
            priority = _choice(values, "priority", PRIORITIES, _label("priority"))
            command = plan_command(_need_text(values), person=person, priority=priority)
        except CommandError as error:
            return self._again(session, await self._plan_form(values), error)
        return await self._run(session, command)


def _label(var: str) -> str:
    """A field's label in the language of the person filling the form in."""
    return t(_ACTOR.get().language, f"adhoc.field.{var}")


def _need_text(values: Values) -> str:
    text = _one(values, "text")
    if not text:
        raise CommandError("need_text")
    return text


def _query(values: Values, var: str) -> str:
    return " ".join(normalize(_one(values, var)).split())
