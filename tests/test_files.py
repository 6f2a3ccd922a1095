"""Files from phones without XMPP: the download's limits against a local HTTP server on
loopback, the receiver on the command core (which ticket, who may attach, nothing half
stored), `show #N`, the ticket page and the attachments configuration.

Threat: a file message makes the bot fetch something other than the sender's upload
(another host, a redirect, a non-HTTP scheme), fill the disk past the size limit, keep a
file of a refused type or a half-written one, or attach to a ticket the sender may not
see (learning that it exists); or the web page offers a file so a browser would run it.
"""

from __future__ import annotations

import asyncio
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import DummyCookieJar, web
from aiohttp.test_utils import TestClient, TestServer
from dialog import DOMAIN, DialogBot, copy_of
from slixmpp.stanza import Message
from sqlalchemy import func, select

from bot import files
from bot.config import (
    AttachmentsConfig,
    ConfigError,
    Secret,
    WebConfig,
    XmppConfig,
    parse_config,
)
from bot.files import FileReceiver, carries_file, file_name, read_body
from commands.attachments import size_text
from storage import web_auth
from storage.models import Attachment, Outbox, TicketEvent
from storage.queries import staff_by_login
from web_readonly.app import init_app
from web_readonly.files import ATTACHMENTS, disposition

NOW = datetime(2026, 11, 25, 9, 0)
PHOTO = bytes(range(256)) * 8  # 2 KB
MB = 1024 * 1024
BOT = f"helpdesk@{DOMAIN}"
XMPP = XmppConfig(jid=BOT, password=Secret("x"))


@dataclass
class Uploads:
    """A stand-in for the server's upload service: serves files, counts requests."""

    server: TestServer
    hits: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return str(self.server.make_url(path)).replace("127.0.0.1", host, 1)


UPLOADS = web.AppKey("uploads", Uploads)


async def _serve(request: web.Request) -> web.StreamResponse:
    uploads = request.app[UPLOADS]
    uploads.hits.append(request.path)
    name = request.match_info["name"]
    if name == "huge.jpg":  # declares 12.3 MB; the bot must not read on
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.content_length = 12_897_485
        await response.prepare(request)
        await response.write(b"x" * 1024)
        return response
    if name == "endless.jpg":  # no Content-Length: only counting while streaming stops it
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"y" * 8192)
        return response
    if name == "page.html":
        return web.Response(body=b"<script>alert(1)</script>", content_type="text/html")
    if name == "moved.jpg":
        raise web.HTTPFound("/files/photo.jpg")
    if name == "slow.jpg":
        await asyncio.sleep(5)
    if name == "missing.jpg":
        raise web.HTTPNotFound()
    content_type = "image/heic" if name.endswith(".heic") else "image/jpeg"
    return web.Response(body=PHOTO, content_type=content_type)


@pytest.fixture
async def uploads() -> AsyncIterator[Uploads]:
    app = web.Application()
    app.router.add_get("/files/{name}", _serve)
    server = TestServer(app, host="127.0.0.1")
    found = Uploads(server)
    app[UPLOADS] = found
    await server.start_server()
    yield found
    await server.close()


@pytest.fixture
def config(tmp_path: Path) -> AttachmentsConfig:
    return AttachmentsConfig(
        folder=str(tmp_path / "attachments"),
        max_bytes=10 * MB,
        hosts=("127.0.0.1",),
        timeout=timedelta(seconds=1),
    )


@pytest.fixture
async def bot(staffed_template: Path, tmp_path: Path) -> AsyncIterator[DialogBot]:
    """#1 for @it by the operator; #2 for w2 personally (w1 may not see it)."""
    bot = copy_of(staffed_template, tmp_path, NOW)
    assert await bot.say("operator", "new printer jams @it") == "Ticket #1 opened for @it."
    assert await bot.say("operator", "new private task @w2") == "Ticket #2 opened for @w2."
    bot.inbox("head_it")
    bot.inbox("w2")
    yield bot
    await bot.engine.dispose()


@dataclass
class Desk:
    bot: DialogBot
    uploads: Uploads
    receiver: FileReceiver
    previous: dict[str, str]
    folder: Path

    async def send(self, login: str, body: str, url: str) -> str | None:
        reply = await self.receiver(file_message(body, url), f"{login}@{DOMAIN}")
        await self.bot.delivery.deliver_due()
        return reply

    def stored(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*") if p.is_file())

    async def rows(self) -> list[Attachment]:
        async with self.bot.sessions() as session:
            return list((await session.scalars(select(Attachment).order_by(Attachment.id))).all())


@pytest.fixture
def desk(bot: DialogBot, uploads: Uploads, config: AttachmentsConfig) -> Desk:
    previous: dict[str, str] = {}
    receiver = FileReceiver(bot.core, config, XMPP, previous)
    return Desk(bot, uploads, receiver, previous, Path(config.folder))


def file_message(body: str, url: str) -> Message:
    """What Conversations sends: the link in the body and in a XEP-0066 OOB element."""
    msg = Message()
    msg["type"] = "chat"
    msg["body"] = body
    oob = ET.SubElement(msg.xml, "{jabber:x:oob}x")
    ET.SubElement(oob, "{jabber:x:oob}url").text = url
    return msg


async def nothing_stored(desk: Desk) -> None:
    assert desk.stored() == [] and await desk.rows() == []


# --- reading the message ------------------------------------------------------------------


def test_a_file_message_is_one_with_an_oob_link() -> None:
    assert carries_file(file_message("https://x/a.jpg", "https://x/a.jpg"))
    plain = Message()
    plain["body"] = "#1 https://x/a.jpg"
    assert not carries_file(plain)


@pytest.mark.parametrize(
    ("body", "numbers", "caption"),
    [
        ("https://up.example/a/photo.jpg", set(), ""),
        ("#124 https://up.example/a/photo.jpg", {124}, ""),
        ("https://up.example/a#7.jpg roller replaced №12,", {12}, "roller replaced"),
        ("> #5 printer jams\n#6 done", {6}, "done"),
        ("#1 and #2 https://x/y", {1, 2}, "and"),
    ],
)
def test_read_body(body: str, numbers: set[int], caption: str) -> None:
    assert read_body(body) == (numbers, caption)


def test_file_names_are_safe() -> None:
    from yarl import URL

    assert file_name(URL("https://x/share/abc/photo%201.jpg")) == "photo 1.jpg"
    assert file_name(URL("https://x/share/abc/a%2F..%2Fb%0A.jpg")) == "a_.._b_.jpg"
    assert file_name(URL("https://x/")) == "file"
    long = file_name(URL("https://x/" + "я" * 300 + ".jpeg"))
    assert len(long) == 255 and long.endswith(".jpeg")


def test_sizes_are_shown_as_phones_show_them() -> None:
    assert [size_text("en", n) for n in (830, 2048, 1_258_291, 10 * MB, 12_897_485)] == [
        "830 B",
        "2 KB",
        "1.2 MB",
        "10 MB",
        "12.3 MB",
    ]
    assert size_text("ru", 1_258_291) == "1.2 МБ"


def test_the_download_of_a_file_names_it_for_saving() -> None:
    assert (
        disposition("photo.jpg") == "attachment; filename=\"photo.jpg\"; filename*=UTF-8''photo.jpg"
    )
    assert disposition('фото "1".jpg') == (
        'attachment; filename="____ _1_.jpg"; '
        "filename*=UTF-8''%D1%84%D0%BE%D1%82%D0%BE%20%221%22.jpg"
    )


# --- attaching ----------------------------------------------------------------------------


async def test_a_file_with_its_number_is_attached(desk: Desk) -> None:
    url = desk.uploads.url("/files/photo.jpg")

    reply = await desk.send("w1", f"#1 roller replaced {url}", url)

    assert reply == "File photo.jpg (2 KB) attached to #1."
    digest = hashlib.sha256(PHOTO).hexdigest()
    assert desk.stored() == [desk.folder / digest[:2] / digest]
    assert desk.stored()[0].read_bytes() == PHOTO
    [row] = await desk.rows()
    assert (row.ticket_id, row.file_name, row.content_type, row.size, row.sha256) == (
        1, "photo.jpg", "image/jpeg", len(PHOTO), digest
    )  # fmt: skip
    assert (row.stored_path, row.source_url) == (f"{digest[:2]}/{digest}", url)
    card = await desk.bot.say("w1", "show #1") or ""
    assert "Attachments:\n  photo.jpg (2 KB), @w1, 25.11 12:00" in card
    assert "@w1 attached photo.jpg: roller replaced" in card
    [notice] = desk.bot.inbox("head_it")
    assert notice.startswith("#1") and "@w1 attached photo.jpg: roller replaced" in notice


async def test_the_number_of_the_previous_message_counts(desk: Desk) -> None:
    desk.previous[f"w1@{DOMAIN}"] = "#1 here is the jam"
    url = desk.uploads.url("/files/jam.jpg")

    assert await desk.send("w1", url, url) == "File jam.jpg (2 KB) attached to #1."


async def test_a_previous_answer_to_a_notification_counts(desk: Desk) -> None:
    desk.previous[f"w1@{DOMAIN}"] = "> #1 printer jams\nI am on it"
    url = desk.uploads.url("/files/jam.jpg")

    assert await desk.send("w1", url, url) == "File jam.jpg (2 KB) attached to #1."


async def test_a_reply_to_a_notification_names_the_ticket_first(desk: Desk) -> None:
    async with desk.bot.sessions() as session:
        notice = await session.scalar(
            select(Outbox.key).where(Outbox.address == f"w1@{DOMAIN}", Outbox.ticket_id == 1)
        )
    assert notice is not None
    desk.previous[f"w1@{DOMAIN}"] = "#2 not this one"
    url = desk.uploads.url("/files/photo.jpg")
    msg = file_message(f"> New #1 for @it\ndone, replaced the roller {url}", url)
    ET.SubElement(msg.xml, "{urn:xmpp:reply:0}reply", {"id": notice, "to": BOT})

    reply = await desk.receiver(msg, f"w1@{DOMAIN}")

    assert reply == "File photo.jpg (2 KB) attached to #1."
    card = await desk.bot.say("w1", "show #1") or ""
    assert "@w1 attached photo.jpg: done, replaced the roller" in card


async def test_a_quote_or_the_ticket_s_thread_names_the_ticket(desk: Desk) -> None:
    url = desk.uploads.url("/files/photo.jpg")
    assert await desk.send("w1", f"> #1 printer jams\n{url}", url) == (
        "File photo.jpg (2 KB) attached to #1."
    )
    msg = file_message(url, f"{url}?again")
    msg["thread"] = "helpdesk-ticket-1"
    assert await desk.receiver(msg, f"w1@{DOMAIN}") == "File photo.jpg (2 KB) attached to #1."


async def test_without_a_number_nothing_is_attached(desk: Desk) -> None:
    url = desk.uploads.url("/files/photo.jpg")

    reply = await desk.send("w1", url, url)
    assert reply is not None and reply.startswith("Which ticket is this file for?")
    assert await desk.send("w1", f"#1 #2 {url}", url) == "Name one ticket only."
    await nothing_stored(desk)
    assert desk.uploads.hits == []


@pytest.mark.parametrize("number", [2, 99])
async def test_a_ticket_the_sender_may_not_see_is_not_found(desk: Desk, number: int) -> None:
    url = desk.uploads.url("/files/photo.jpg")

    assert await desk.send("w1", f"#{number} {url}", url) == f"#{number} not found"
    await nothing_stored(desk)
    assert desk.uploads.hits == []  # refused before anything was fetched


async def test_the_ticket_s_own_people_may_attach(desk: Desk) -> None:
    url = desk.uploads.url("/files/photo.jpg")
    for login in ("w2", "head_it", "admin"):
        reply = await desk.send(login, f"#2 {url}?by={login}", f"{url}?by={login}")
        assert reply == "File photo.jpg (2 KB) attached to #2.", login
    assert len(desk.stored()) == 1  # the same content is stored once
    assert len(await desk.rows()) == 3


async def test_a_stranger_is_refused_once_an_hour(desk: Desk) -> None:
    url = desk.uploads.url("/files/photo.jpg")

    first = await desk.send("nobody", f"#1 {url}", url)
    assert first == "Sorry, this is a private service for the company's staff."
    assert await desk.send("nobody", f"#1 {url}", url) is None
    await nothing_stored(desk)


async def test_the_same_message_twice_attaches_once(desk: Desk) -> None:
    url = desk.uploads.url("/files/photo.jpg")
    await desk.send("w1", f"#1 {url}", url)

    assert await desk.send("w1", f"#1 {url}", url) == "File photo.jpg is attached to #1 already."
    assert len(await desk.rows()) == 1


async def test_a_russian_speaker_gets_russian(desk: Desk) -> None:
    await desk.bot.core.run_admin("staff", ["set", "w1", "lang", "ru"])
    url = desk.uploads.url("/files/photo.jpg")

    assert await desk.send("w1", f"#1 {url}", url) == "Файл photo.jpg (2 КБ) прикреплён к #1."


# --- the limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reply"),
    [
        (
            "huge.jpg",
            "The file for #1 is too large: 12.3 MB, at most 10 MB. Nothing was attached.",
        ),
        (
            "page.html",
            "Files of type text/html are not accepted (only image/jpeg, image/png, image/webp, "
            "image/heic, application/pdf, text/plain). Nothing was attached to #1.",
        ),
        (
            "moved.jpg",
            "The file for #1 could not be downloaded: the upload service answered HTTP 302. "
            "Nothing was attached.",
        ),
        (
            "missing.jpg",
            "The file for #1 could not be downloaded: the upload service answered HTTP 404. "
            "Nothing was attached.",
        ),
        ("slow.jpg", "The file for #1 did not arrive within 1 s. Nothing was attached."),
    ],
)
async def test_refused_downloads_leave_nothing(desk: Desk, name: str, reply: str) -> None:
    url = desk.uploads.url(f"/files/{name}")

    assert await desk.send("w1", f"#1 {url}", url) == reply
    await nothing_stored(desk)
    assert desk.uploads.hits == [f"/files/{name}"]  # a redirect is not followed


async def test_the_limit_holds_while_streaming(desk: Desk) -> None:
    desk.receiver.download.config = replace(desk.receiver.download.config, max_bytes=100_000)
    url = desk.uploads.url("/files/endless.jpg")

    reply = await desk.send("w1", f"#1 {url}", url)

    assert reply == "The file for #1 is too large: more than 97.7 KB. Nothing was attached."
    await nothing_stored(desk)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:{port}/files/photo.jpg",  # not the configured host
        "http://127.0.0.1.nip.io:{port}/files/photo.jpg",
        "ftp://127.0.0.1:{port}/files/photo.jpg",
        "aesgcm://127.0.0.1:{port}/files/photo.jpg#0011",
        "http://user:pw@127.0.0.1:{port}/files/photo.jpg",
        "file:///etc/passwd",
    ],
)
async def test_only_the_upload_hosts_are_fetched_from(desk: Desk, url: str) -> None:
    link = url.format(port=desk.uploads.server.port)

    reply = await desk.send("w1", f"#1 {link}", link) or ""

    assert reply.startswith("The file for #1 was not downloaded: ")
    assert reply.endswith(" is not this server's upload service. Nothing was attached.")
    await nothing_stored(desk)
    assert desk.uploads.hits == []


def test_by_default_the_bot_s_domain_its_subdomains_and_server_are_the_upload_hosts() -> None:
    from yarl import URL

    xmpp = XmppConfig(jid="hd@Company.Example", password=Secret("x"), server="10.0.0.5:5222")
    download = files.Downloader(AttachmentsConfig(), xmpp)
    for ok in (
        "https://company.example/f",
        "https://upload.company.example:5281/f",
        "http://10.0.0.5:5280/f",
    ):
        assert download.allowed(URL(ok)), ok
    for bad in (
        "https://evilcompany.example/f",
        "https://company.example.evil/f",
        "http://10.0.0.6/f",
        "ftp://company.example/f",
    ):
        assert not download.allowed(URL(bad)), bad
    pinned = files.Downloader(AttachmentsConfig(hosts=("up.example:443",)), xmpp)
    assert not pinned.allowed(URL("https://company.example/f"))
    assert pinned.allowed(URL("https://up.example/f"))
    assert not pinned.allowed(URL("http://up.example:80/f"))


async def test_wildcard_types(desk: Desk) -> None:
    config = replace(desk.receiver.download.config, content_types=("image/*",))
    desk.receiver.download.config = config
    url = desk.uploads.url("/files/photo.heic")

    assert await desk.send("w1", f"#1 {url}", url) == "File photo.heic (2 KB) attached to #1."


async def test_a_failed_record_removes_the_file(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(files, "attach", broken)
    url = desk.uploads.url("/files/photo.jpg")

    reply = await desk.send("w1", f"#1 {url}", url) or ""

    assert reply.startswith("Something went wrong (ref ") and "disk" not in reply
    await nothing_stored(desk)
    async with desk.bot.sessions() as session:
        events = await session.scalar(
            select(func.count()).select_from(TicketEvent).where(TicketEvent.action == "attached")
        )
    assert events == 0


def test_a_download_left_half_done_is_swept_at_start(config: AttachmentsConfig) -> None:
    folder = Path(config.folder)
    folder.mkdir()
    (folder / f"{files.PARTIAL}abc").write_bytes(b"half")
    (folder / "ab").mkdir()
    (folder / "ab" / "abcd").write_bytes(b"kept")

    files.FileStore(folder)

    assert sorted(p.name for p in folder.rglob("*")) == ["ab", "abcd"]


# --- configuration --------------------------------------------------------------------------


def _with_attachments(section: object, environ: dict[str, str] | None = None) -> AttachmentsConfig:
    data = {"xmpp": {"jid": "helpdesk@localhost", "password": "x"}, "attachments": section}
    return parse_config(data, environ or {}).attachments


def test_attachments_defaults_and_values() -> None:
    assert _with_attachments(None) == AttachmentsConfig()
    assert AttachmentsConfig().max_bytes == 10 * MB and AttachmentsConfig().hosts == ()
    assert "image/heic" in AttachmentsConfig().content_types
    config = _with_attachments(
        {"folder": "/srv/files", "max_bytes": 5000, "content_types": ["image/*"], "timeout": "2m"},
        {"HELPDESK_ATTACHMENTS__HOSTS": "upload.company.example, [::1]:5281"},
    )
    assert config == AttachmentsConfig(
        "/srv/files", 5000, ("image/*",), ("upload.company.example", "[::1]:5281"),
        timedelta(minutes=2),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"max_bytes": 0}, "attachments.max_bytes: expected a positive integer, got 0"),
        ({"max_bytes": "10MB"}, "attachments.max_bytes: expected an integer, got '10MB'"),
        ({"content_types": "image/png"}, "attachments.content_types: expected a list, got"),
        ({"content_types": ["png"]}, "attachments.content_types: expected a media type like"),
        ({"hosts": ["https://up.example"]}, "attachments.hosts: expected host or host:port"),
        ({"timeout": "soon"}, "attachments.timeout: expected a duration"),
        ({"folder": ""}, "attachments.folder: expected a non-empty string"),
        ({"size": 1}, "attachments.size: unknown key"),
    ],
)
def test_bad_attachments_values(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _with_attachments(section)
    assert str(caught.value).startswith(message)


# --- the web page -------------------------------------------------------------------------


async def test_the_ticket_page_lists_files_escaped_and_serves_them_as_downloads(
    desk: Desk, config: AttachmentsConfig
) -> None:
    hostile = "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E%22.jpg"
    url = desk.uploads.url(f"/files/{hostile}")
    reply = await desk.send("w1", f"#1 {url}", url)
    assert reply == 'File <img src=x onerror=alert(1)>".jpg (2 KB) attached to #1.'
    app = init_app(desk.bot.sessions, WebConfig(), clock=desk.bot.clock, language="en")
    app[ATTACHMENTS] = Path(config.folder)
    async with TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as client:
        async with desk.bot.sessions() as session, session.begin():
            staff = await staff_by_login(session, "w1")
            assert staff is not None
            token = await web_auth.create_link(session, staff.id, NOW, timedelta(minutes=5))
        login = await client.post("/login", data={"token": token}, allow_redirects=False)
        cookie = {"Cookie": f"hd_session={login.cookies['hd_session'].value}"}

        page = await (await client.get("/tickets/1", headers=cookie)).text()
        served = await client.get("/files/1", headers=cookie)

        assert "<img src=x" not in page
        assert '<a href="/files/1" download>&lt;img src=x onerror=alert(1)&gt;&#34;.jpg</a>' in page
        assert "2 KB · @w1 · <time>2026-11-25 12:00</time>" in page
        assert served.status == 200 and await served.read() == PHOTO
        assert served.headers["Content-Type"] == "image/jpeg"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert served.headers["Content-Disposition"] == (
            'attachment; filename="<img src=x onerror=alert(1)>_.jpg"; '
            "filename*=UTF-8''%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%22.jpg"
        )
