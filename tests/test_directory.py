"""The directory inside the running process, against a real slapd: the admin's `sync`
in chat, the nightly re-sync with its summary to the admins, and staff-group members
enrolled as staff on their first message (everyone else stays a stranger)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from dialog import DOMAIN, Clock, DialogBot, make_dialog
from slapd import SlapdServer, ldif_entry
from sqlalchemy import select

from bot.config import Config, parse_config
from bot.directory import Directory
from storage.models import Customer, Outbox, Staff

NOW = datetime(2026, 11, 25, 9, 0)
STRANGER = "Sorry, this is a private service for the company's staff."


def person(login: str, name: str, control: int = 512) -> dict[str, object]:
    return {"objectClass": ["inetOrgPerson", "user"], "cn": login, "sn": name.split()[0],
            "displayName": name, "sAMAccountName": login, "telephoneNumber": "4521",
            "userAccountControl": control, "objectCategory": "person"}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    slapd = SlapdServer(Path(tmp_path_factory.mktemp("directory-slapd")))
    slapd.start()
    people = {"newbie": "Новиков Никита", "outsider": "Орлов Олег", "gone": "Гусев Гена"}
    slapd.add([ldif_entry(f"cn={login},{slapd.people_dn}", person(login, name))
               for login, name in people.items()])  # fmt: skip
    slapd.add(ldif_entry(f"cn=Helpdesk,{slapd.groups_dn}", {
        "objectClass": "groupOfNames", "cn": "Helpdesk",
        "member": [f"cn=newbie,{slapd.people_dn}"],
    }))  # fmt: skip
    try:
        yield slapd
    finally:
        slapd.stop()


@pytest.fixture
async def bot(server: SlapdServer, tmp_path: Path) -> AsyncIterator[tuple[DialogBot, Directory]]:
    dialog = await make_dialog(f"sqlite+aiosqlite:///{tmp_path / 'hd.db'}", Clock(NOW))
    config: Config = parse_config(
        {"xmpp": {"jid": f"helpdesk@{DOMAIN}", "password": "x"}, "language": "en"}, {}
    )
    config = replace(config, ldap=server.ldap_config(staff_department="it"))
    directory = Directory(config, dialog.sessions, dialog.clock)
    dialog.core.sync, dialog.core.enroll = directory.sync, directory.enroll
    await directory.refresh_members()
    yield dialog, directory
    await dialog.engine.dispose()


async def test_sync_in_chat_answers_with_the_counts(bot: tuple[DialogBot, Directory]) -> None:
    dialog, _ = bot
    first = "Directory sync: added 3, updated 0, deactivated 0, unchanged 0."
    assert await dialog.say("admin", "sync") == first
    again = "Directory sync: added 0, updated 0, deactivated 0, unchanged 3."
    assert await dialog.say("admin", "sync") == again
    assert await dialog.say("w1", "sync") == "You may not use 'sync'."
    assert (await dialog.say("operator", "who новиков") or "").startswith("Новиков Никита")


async def test_the_nightly_sync_tells_each_admin(bot: tuple[DialogBot, Directory]) -> None:
    dialog, directory = bot
    await directory.nightly()
    async with dialog.sessions() as session:
        rows = (await session.scalars(select(Outbox).where(Outbox.key.like("sync:%")))).all()
        admins = (await session.scalars(select(Staff).where(Staff.role == "admin"))).all()
    assert {r.recipient_id for r in rows} == {a.id for a in admins}
    assert all(r.text.startswith("Directory sync: added 3") for r in rows)
    await dialog.delivery.deliver_due()
    assert dialog.inbox("admin") == ["Directory sync: added 3, updated 0, deactivated 0, "
                                     "unchanged 0."]  # fmt: skip


async def test_staff_group_members_are_enrolled_on_first_contact(
    bot: tuple[DialogBot, Directory],
) -> None:
    dialog, _ = bot
    assert (await dialog.say(f"newbie@{DOMAIN}", "help") or "").startswith("Commands you")
    async with dialog.sessions() as session:
        newbie = await session.scalar(select(Staff).where(Staff.login == "newbie"))
    assert newbie is not None and (newbie.role, newbie.active) == ("user", True)
    assert await dialog.say(f"outsider@{DOMAIN}", "help") == STRANGER  # not in the group
    assert await dialog.say("newbie@elsewhere.test", "help") == STRANGER  # another domain
    async with dialog.sessions() as session:
        logins = set((await session.scalars(select(Staff.login))).all())
        customers = (await session.scalars(select(Customer))).all()
    assert "outsider" not in logins and customers == []  # strangers change nothing
