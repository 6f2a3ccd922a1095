"""XEP-0363 HTTP file upload with XEP-0066 OOB links, end to end: `helpdesk run` on a real
Prosody with its http_file_share component, staff on real slixmpp clients uploading
photos the way Conversations does, and the web page serving them.

Threat: a file lands on a ticket its sender may not see, a refused or oversized file is
half stored, or the web page hands a ticket's file to someone who may not see the ticket.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from live_desk import bot_config, database, read, running, seed
from slixmpp import JID
from sqlalchemy import select
from xmpp_client import Account, ChatClient, Incoming

from bot.config import Config
from bot.prosody import ProsodyNotInstalled, ProsodyServer, ensure_prosody_installed
from bot.servers import free_port
from storage import web_auth
from storage.clock import utcnow
from storage.models import Attachment, Staff

pytestmark = pytest.mark.xmpp

STAFF = [  # login, role, home department
    ("admin", "admin", "ops"),
    ("operator", "user", "ops"),
    ("head_it", "coordinator", "it"),
    ("w1", "user", "it"),
    ("w2", "user", "it"),
]
RECEIPT_REQUEST = "{urn:xmpp:receipts}request"
LIMIT = 100_000  # attachments.max_bytes here
PHOTO = os.urandom(20 * 1024)


@pytest.fixture(scope="module")
def upload_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProsodyServer]:
    """A Prosody of this module's own, with the http_file_share component on loopback."""
    try:
        ensure_prosody_installed(install=False)
    except ProsodyNotInstalled as missing:
        pytest.fail(f"{missing} (needed by the upload tests)", pytrace=False)
    server = ProsodyServer(
        workdir=tmp_path_factory.mktemp("prosody-upload"), upload=True, muc=False
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


class PhoneClient(ChatClient):
    """A staff client that uploads (XEP-0363) and replies (XEP-0461) like a phone does."""

    def __init__(self, account: Account, server: ProsodyServer) -> None:
        super().__init__(account.jid, account.password, server.address)
        self.upload_domain = JID(server.upload_domain)
        for plugin in ("xep_0066", "xep_0363", "xep_0428", "xep_0461"):
            self.register_plugin(plugin)

    async def upload(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        url: str = await self.plugin["xep_0363"].upload_file(
            name,
            size=len(data),
            content_type=content_type,
            input_file=io.BytesIO(data),
            domain=self.upload_domain,
            timeout=10,
        )
        return url

    def send_file(
        self, to: str, url: str, body: str | None = None, reply: Incoming | None = None
    ) -> None:
        """The link in the body (with any text) and in an OOB element; as a XEP-0461
        reply to `reply` (with its quote as the fallback) when given."""
        msg = self.make_message(mto=JID(to), mbody=body or url, mtype="chat")
        msg["oob"]["url"] = url
        if reply is not None:
            msg["reply"]["id"] = reply.stanza["id"]
            msg["reply"]["to"] = reply.sender.bare
            msg["reply"].add_quoted_fallback(reply.body.splitlines()[0])
        msg.send()


@dataclass
class Desk:
    config: Config
    server: ProsodyServer
    accounts: dict[str, Account]
    clients: list[PhoneClient]

    @property
    def jid(self) -> str:
        return self.config.xmpp.jid

    @property
    def folder(self) -> Path:
        return Path(self.config.attachments.folder)

    @property
    def web(self) -> str:
        host, port = self.config.web.host_port()
        return f"http://{host}:{port}"

    async def client(self, login: str) -> PhoneClient:
        client = PhoneClient(self.accounts[login], self.server)
        self.clients.append(client)
        await client.start()
        return client

    async def ask(self, client: PhoneClient, text: str) -> str:
        client.say(self.jid, text)
        return await self.answer(client)

    async def answer(self, client: PhoneClient) -> str:
        """The bot's next reply, passing over its notifications (which ask for receipts)."""
        while True:
            message = await client.expect(timeout=15, from_=self.jid)
            if message.stanza.xml.find(RECEIPT_REQUEST) is None:
                return message.body

    async def notice(self, client: PhoneClient, number: int) -> Incoming:
        """The next notification about ticket #number."""
        while True:
            message = await client.expect(timeout=15, from_=self.jid)
            notice = message.stanza.xml.find(RECEIPT_REQUEST) is not None
            if notice and message.body.startswith(f"#{number}"):
                return message

    def stored(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*") if p.is_file())

    async def rows(self) -> list[Attachment]:
        return await read(self.config, select(Attachment).order_by(Attachment.id))

    async def nothing_stored(self) -> None:
        assert self.stored() == [] and await self.rows() == []

    async def sign_in(self, http: aiohttp.ClientSession, login: str) -> None:
        async with database(self.config) as sessions, sessions() as session, session.begin():
            staff_id = await session.scalar(select(Staff.id).where(Staff.login == login))
            assert staff_id is not None
            token = await web_auth.create_link(session, staff_id, utcnow(), timedelta(minutes=10))
        async with http.post(f"{self.web}/login", data={"token": token}) as response:
            assert response.status == 200, await response.text()


def browser() -> aiohttp.ClientSession:
    """A client that keeps the session cookie of a page on an IP address."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


@pytest.fixture
async def desk(upload_server: ProsodyServer, tmp_path: Path) -> AsyncIterator[Desk]:
    """The bot running with #1 for @it and #2 for w2 personally, opened by the operator."""
    server, tag = upload_server, os.urandom(4).hex()
    accounts = {}
    for login in [*(s[0] for s in STAFF), "bot"]:
        user, password = f"{login.replace('_', '')}-{tag}", os.urandom(8).hex()
        accounts[login] = Account(server.register(user, password), password)
    web = f"127.0.0.1:{free_port()}"
    config = bot_config(
        server,
        accounts["bot"],
        tmp_path,
        web={"listen": web, "public_url": f"http://{web}"},
        attachments={
            "folder": str(tmp_path / "attachments"),
            "max_bytes": LIMIT,
            "hosts": [server.host],  # http_external_url: http://127.0.0.1:PORT/
        },
    )
    await seed(config, STAFF, accounts, ["it", "ops"])
    async with running(config):
        desk = Desk(config, server, accounts, [])
        try:
            operator = await desk.client("operator")
            assert await desk.ask(operator, "new printer jams @it") == "Ticket #1 opened for @it."
            assert await desk.ask(operator, "new private task @w2") == "Ticket #2 opened for @w2."
            yield desk
        finally:
            await asyncio.gather(*(c.stop() for c in desk.clients), return_exceptions=True)


async def test_a_photo_with_its_number_is_attached_and_listed(desk: Desk) -> None:
    w1 = await desk.client("w1")
    url = await w1.upload("photo.jpg", PHOTO)

    w1.send_file(desk.jid, url, f"#1 {url}")

    assert await desk.answer(w1) == "File photo.jpg (20 KB) attached to #1."
    digest = hashlib.sha256(PHOTO).hexdigest()
    assert desk.stored() == [desk.folder / digest[:2] / digest]
    assert desk.stored()[0].read_bytes() == PHOTO
    [row] = await desk.rows()
    assert (row.ticket_id, row.file_name, row.content_type, row.size) == (
        1, "photo.jpg", "image/jpeg", len(PHOTO)
    )  # fmt: skip
    card = await desk.ask(w1, "show #1")
    assert "\nAttachments:\n  photo.jpg (20 KB), @w1, " in card
    assert "@w1 attached photo.jpg" in card


async def test_the_number_of_the_previous_message_counts(desk: Desk) -> None:
    w1 = await desk.client("w1")
    assert await desk.ask(w1, "#1 the roller is worn") == "Comment added to #1."
    url = await w1.upload("roller.jpg", PHOTO)

    w1.send_file(desk.jid, url)

    assert await desk.answer(w1) == "File roller.jpg (20 KB) attached to #1."


async def test_a_field_worker_replies_to_the_notification_with_a_photo(desk: Desk) -> None:
    """Notification → reply with a photo → close, without typing a ticket number."""
    w2 = await desk.client("w2")
    operator = desk.clients[0]
    assert await desk.ask(operator, "new toner empty @w2") == "Ticket #3 opened for @w2."
    notice = await desk.notice(w2, 3)
    url = await w2.upload("toner.jpg", PHOTO)

    w2.send_file(desk.jid, url, reply=notice)

    assert await desk.answer(w2) == "File toner.jpg (20 KB) attached to #3."
    assert [row.ticket_id for row in await desk.rows()] == [3]
    # and closes it by replying to the same notification: no number typed anywhere
    w2.plugin["xep_0461"].send_reply(
        reply_to=notice.sender, reply_id=notice.stanza["id"], fallback=notice.body,
        mto=desk.jid, mbody="/close replaced the toner", mtype="chat",
    )  # fmt: skip
    assert await desk.answer(w2) == "#3 closed."


async def test_a_file_too_large_is_refused_and_nothing_is_kept(desk: Desk) -> None:
    w1 = await desk.client("w1")
    url = await w1.upload("scan.jpg", os.urandom(LIMIT + 50_000))

    w1.send_file(desk.jid, url, f"#1 {url}")

    assert await desk.answer(w1) == (
        "The file for #1 is too large: 146.5 KB, at most 97.7 KB. Nothing was attached."
    )
    await desk.nothing_stored()


async def test_a_refused_type_is_refused_and_nothing_is_kept(desk: Desk) -> None:
    w1 = await desk.client("w1")
    url = await w1.upload("page.html", b"<script>alert(1)</script>", "text/html")

    w1.send_file(desk.jid, url, f"#1 {url}")

    assert (await desk.answer(w1)).startswith(
        "Files of type text/html are not accepted (only image/jpeg, "
    )
    await desk.nothing_stored()


async def test_a_ticket_the_sender_may_not_see_is_not_found(desk: Desk) -> None:
    w1 = await desk.client("w1")
    url = await w1.upload("photo.jpg", PHOTO)

    w1.send_file(desk.jid, url, f"#2 {url}")

    assert await desk.answer(w1) == "#2 not found"
    await desk.nothing_stored()


async def test_the_web_page_serves_a_file_only_to_who_sees_the_ticket(desk: Desk) -> None:
    w2 = await desk.client("w2")
    url = await w2.upload("plan.pdf", b"%PDF-1.4 plan", "application/pdf")
    w2.send_file(desk.jid, url, f"#2 {url}")
    assert await desk.answer(w2) == "File plan.pdf (13 B) attached to #2."
    [row] = await desk.rows()
    path = f"{desk.web}/files/{row.id}"

    async with browser() as http:
        await desk.sign_in(http, "admin")
        async with http.get(f"{desk.web}/tickets/2") as page:
            assert f'<a href="/files/{row.id}" download>plan.pdf</a>' in await page.text()
    for login in ("admin", "head_it", "operator"):  # any role that sees #2: w2's head, creator
        async with browser() as http:
            await desk.sign_in(http, login)
            async with http.get(path) as response:
                assert response.status == 200 and await response.read() == b"%PDF-1.4 plan"
                assert response.headers["Content-Type"] == "application/pdf"
                assert response.headers["Content-Disposition"].startswith(
                    'attachment; filename="plan.pdf"'
                )
                assert response.headers["X-Content-Type-Options"] == "nosniff"
    async with browser() as http:  # w1, w2's colleague: #2 is w2's own
        await desk.sign_in(http, "w1")
        async with http.get(path) as hidden, http.get(f"{desk.web}/files/999") as missing:
            assert hidden.status == missing.status == 404
            assert await hidden.read() == await missing.read()
    async with browser() as http, http.get(path) as stranger:
        assert stranger.status == 401
        assert "Type &#39;report&#39; to the helpdesk bot" in await stranger.text()
