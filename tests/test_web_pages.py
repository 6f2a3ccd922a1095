"""The report pages of the web site: what each role sees, filters, exports, escaping.

Threat: a staff member reads through the web page tickets the chat would hide from them
(another department's, one sent to a colleague), by a page, an export, a chart or a
guessed ticket number; or ticket text (written by anyone who can open a ticket) runs as
script in a manager's browser.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import ClientResponse, DummyCookieJar, web
from aiohttp.test_utils import TestClient, TestServer
from dialog import DialogBot, copy_of

from bot.config import WebConfig
from storage import web_auth
from storage.models import Customer, Department, Staff, Ticket
from storage.queries import staff_by_login
from web_readonly.app import init_app
from web_readonly.security import runner_options

NOW = datetime(2026, 11, 25, 9, 0)  # 12:00 in Moscow
PUBLIC_URL = "https://helpdesk.example.test"
HOSTILE = "<script>alert(1)</script> javascript:alert(1) &lt;b&gt;"
HOSTILE_DEPARTMENT = "<img src=x onerror=alert(2)>"
PAGES = ["/", "/tickets", "/workload", "/customers", "/calls", "/tickets/1"]
EXPORTS = [
    "/tickets.csv",
    "/calls.csv",
    "/dashboard.csv?table=open_department",
    "/workload.csv?table=workload",
    "/customers.csv?table=top",
]

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def bot(staffed_template: Path, tmp_path: Path) -> AsyncIterator[DialogBot]:
    """#1 IT, high, for ivanov, taken and closed by w1; #2 HR; #3 IT with hostile text,
    overdue; #4 sent to w2 personally; #5, #6 calls by the operator (Operators)."""
    bot = copy_of(staffed_template, tmp_path, NOW - timedelta(days=2))
    async with bot.sessions() as session, session.begin():
        session.add(Customer(full_name="Иванов Иван", login="ivanov", department="Бухгалтерия"))
        session.add(Customer(full_name="Петров Пётр", login="petrov", department="Склад"))
    for login, text in [
        ("operator", "new from ivanov printer jams on floor 3 @it !high"),
        ("operator", "new vpn for hr only @hr"),
        ("operator", f"new {HOSTILE} @it ^2026-11-24"),
        ("operator", "new private task for w2 @w2"),
        ("operator", "call from ivanov reset password"),
        ("operator", "call from petrov монитор мигает"),
        ("w1", "take #1"),
        ("w1", "close #1"),
    ]:
        reply = await bot.say(login, text) or ""
        assert re.match(r"(Ticket|Call) #|#\d+ (is yours|closed)", reply), (text, reply)
    bot.clock.now = NOW
    yield bot
    await bot.engine.dispose()


@pytest.fixture
async def client(bot: DialogBot) -> AsyncIterator[Client]:
    config = WebConfig(public_url=PUBLIC_URL)
    app = init_app(bot.sessions, config, clock=bot.clock, language="en", timezone="Europe/Moscow")
    server = TestServer(app)
    await server.start_server(**runner_options())
    client: Client = TestClient(server, cookie_jar=DummyCookieJar())
    await client.start_server()
    yield client
    await client.close()


async def sign_in(bot: DialogBot, client: Client, login: str) -> str:
    """A link made in storage directly, spent through the sign-in button."""
    async with bot.sessions() as session, session.begin():
        staff = await staff_by_login(session, login)
        assert staff is not None
        token = await web_auth.create_link(session, staff.id, bot.clock(), timedelta(minutes=10))
    response = await client.post("/login", data={"token": token}, allow_redirects=False)
    assert response.status == 303
    return response.cookies["hd_session"].value


async def get(client: Client, path: str, cookie: str | None = None) -> ClientResponse:
    headers = {"Cookie": f"hd_session={cookie}"} if cookie else {}
    return await client.get(path, headers=headers, allow_redirects=False)


async def page_text(bot: DialogBot, client: Client, login: str, path: str) -> str:
    response = await get(client, path, await sign_in(bot, client, login))
    assert response.status == 200, (path, response.status)
    return await response.text()


def ticket_links(text: str) -> set[int]:
    return {int(n) for n in re.findall(r'href="/tickets/(\d+)"', text)}


async def csv_rows(response: ClientResponse) -> list[list[str]]:
    body = await response.read()
    assert response.status == 200 and response.content_type == "text/csv"
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for Cyrillic
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


# --- every page, every role ---------------------------------------------------------------


@pytest.mark.parametrize("login", ["admin", "head_it", "w1"])
@pytest.mark.parametrize(
    ("path", "title", "nav"),
    [
        ("/", "Dashboard", "/"),
        ("/tickets", "Tickets", "/tickets"),
        ("/tickets/1", "#1", "/tickets"),
        ("/workload", "Workload", "/workload"),
        ("/customers", "Customers", "/customers"),
        ("/calls", "Calls", "/calls"),
    ],
)
async def test_every_page_renders_for_each_role(
    bot: DialogBot, client: Client, login: str, path: str, title: str, nav: str
) -> None:
    text = await page_text(bot, client, login, path)
    assert f"<title>{title} · Helpdesk</title>" in text
    assert f'<a href="{nav}" aria-current="page">' in text
    assert text.count('aria-current="page"') == 1
    assert "<script" not in text and "style=" not in text
    if path != "/tickets/1":
        assert "Days and times in Europe/Moscow." in text


async def test_the_dashboard_is_scoped(bot: DialogBot, client: Client) -> None:
    admin = await page_text(bot, client, "admin", "/")
    head = await page_text(bot, client, "head_it", "/")
    hr = await page_text(bot, client, "head_hr", "/")
    assert "<td>hr</td>" in admin and "<td>it</td>" in admin
    assert "<td>hr</td>" not in head and "<td>it</td>" in head
    assert "<td>it</td>" not in hr and "<td>hr</td>" in hr
    for text in (admin, head):
        assert 'svg xmlns="http://www.w3.org/2000/svg" class="chart"' in text
        assert "Overdue now: 1" in text and 'href="/tickets/3"' in text
    assert "Overdue now: 0" in hr and "Nothing is overdue" in hr


async def test_a_quiet_period_says_so(bot: DialogBot, client: Client) -> None:
    text = await page_text(bot, client, "admin", "/?days=custom&from=2026-01-01&to=2026-01-31")
    assert "No tickets in this period" in text
    assert 'value="2026-01-01"' in text and 'value="2026-01-31"' in text
    listed = await page_text(bot, client, "admin", "/tickets?from=2026-01-01&to=2026-01-31")
    assert ticket_links(listed) == set() and "No tickets match" in listed


async def test_unreadable_dates_fall_back_to_thirty_days(bot: DialogBot, client: Client) -> None:
    text = await page_text(bot, client, "admin", "/?days=custom&from=31.31.2026&to=x")
    assert "those dates could not be read" in text
    assert '<option value="30" selected>' in text


# --- the ticket list, the ticket page -----------------------------------------------------


@pytest.mark.parametrize(
    ("login", "seen"),
    [("admin", {1, 2, 3, 4}), ("head_it", {1, 3, 4}), ("w1", {1, 3}), ("hr1", {2})],
)
async def test_the_list_shows_only_what_chat_would(
    bot: DialogBot, client: Client, login: str, seen: set[int]
) -> None:
    assert ticket_links(await page_text(bot, client, login, "/tickets")) == seen


@pytest.mark.parametrize(
    ("query", "seen"),
    [
        ("department=hr", {2}),
        ("status=closed", {1}),
        ("status=new", {2, 3, 4}),
        ("priority=3", {1}),
        ("q=PRINTER", {1}),
        ("q=private&department=it", {4}),
        ("days=7", {1, 2, 3, 4}),
        ("department=nonesuch&priority=9&status=x", {1, 2, 3, 4}),  # ignored
    ],
)
async def test_the_filters(bot: DialogBot, client: Client, query: str, seen: set[int]) -> None:
    assert ticket_links(await page_text(bot, client, "admin", f"/tickets?{query}")) == seen


async def test_the_list_pages_by_fifty(bot: DialogBot, client: Client) -> None:
    for n in range(55):
        await bot.say("operator", f"new batch {n} @it")
    first = await page_text(bot, client, "admin", "/tickets?q=batch")
    second = await page_text(bot, client, "admin", "/tickets?q=batch&page=2")
    assert len(ticket_links(first)) == 50 and len(ticket_links(second)) == 5
    assert "Tickets found: 55" in first and "page 1 of 2" in first
    assert 'href="?q=batch&amp;page=2"' in first


async def test_the_ticket_page(bot: DialogBot, client: Client) -> None:
    text = await page_text(bot, client, "w1", "/tickets/1")
    assert "printer jams on floor 3" in text and "Иванов Иван" in text
    assert "<dd>closed</dd>" in text and "<dd>high</dd>" in text and "<dd>@w1</dd>" in text
    assert "@operator opened it for @it" in text and "@w1 took it" in text
    assert "@w1 closed it" in text


@pytest.mark.parametrize(("login", "hidden"), [("w1", 4), ("w1", 2), ("head_it", 2), ("hr1", 1)])
async def test_a_hidden_ticket_is_exactly_a_missing_one(
    bot: DialogBot, client: Client, login: str, hidden: int
) -> None:
    cookie = await sign_in(bot, client, login)
    hidden_page = await get(client, f"/tickets/{hidden}", cookie)
    missing_page = await get(client, "/tickets/999", cookie)
    assert hidden_page.status == missing_page.status == 404
    assert await hidden_page.read() == await missing_page.read()


# --- exports ------------------------------------------------------------------------------


async def test_the_ticket_export_is_filtered_and_scoped(bot: DialogBot, client: Client) -> None:
    admin = await sign_in(bot, client, "admin")
    rows = await csv_rows(await get(client, "/tickets.csv?department=it&q=printer", admin))
    assert rows[0][:3] == ["No.", "Created", "Status"]
    assert [r[0] for r in rows[1:]] == ["#1"]
    assert rows[1][7] == "Иванов Иван"
    w1 = await sign_in(bot, client, "w1")
    everything = await csv_rows(await get(client, "/tickets.csv", w1))
    assert sorted(r[0] for r in everything[1:]) == ["#1", "#3"]
    [hostile] = [r for r in everything[1:] if r[0] == "#3"]
    assert hostile[-1] == HOSTILE  # the whole text, as written


async def test_the_other_exports(bot: DialogBot, client: Client) -> None:
    admin = await sign_in(bot, client, "admin")
    calls = await csv_rows(await get(client, "/calls.csv", admin))
    assert sorted(r[0] for r in calls[1:]) == ["#5", "#6"]
    assert {r[2] for r in calls[1:]} == {"Иванов Иван", "Петров Пётр"}
    # the page's columns: the customer's department, and who recorded the call
    assert calls[0] == [
        "No.", "Created", "Customer", "Customer department", "Recorded by", "Department", "Text"
    ]  # fmt: skip
    assert calls[1][2:6] == ["Петров Пётр", "Склад", "operator", "ops"]
    opened = await csv_rows(await get(client, "/dashboard.csv?table=open_department", admin))
    assert opened == [["Department", "Open"], ["hr", "1"], ["it", "2"]]
    work = await csv_rows(await get(client, "/workload.csv?table=workload", admin))
    assert work[1][:5] == ["w1", "it", "0", "0", "1"]
    top = await csv_rows(await get(client, "/customers.csv?table=top", admin))
    assert top[1][:4] == ["Иванов Иван", "Бухгалтерия", "1", "4"]  # the chat keeps the customer
    head = await sign_in(bot, client, "head_it")
    opened = await csv_rows(await get(client, "/dashboard.csv?table=open_department", head))
    assert opened == [["Department", "Open"], ["it", "2"]]
    assert (await csv_rows(await get(client, "/calls.csv", head)))[1:] == []
    assert (await get(client, "/dashboard.csv?table=nonesuch", head)).status == 404


async def test_every_table_links_its_export(bot: DialogBot, client: Client) -> None:
    for path in ("/", "/workload", "/customers"):
        text = await page_text(bot, client, "admin", f"{path}?days=7")
        links = re.findall(r'class="csv-link" href="([^"]+)"', text)
        assert links and all("days=7" in link and "table=" in link for link in links), path
    for path in ("/tickets", "/calls"):
        text = await page_text(bot, client, "admin", f"{path}?days=7")
        assert f'class="csv-link" href="{path}.csv?days=7"' in text


# --- the other pages ----------------------------------------------------------------------


async def test_workload_chart_shows_closed_work_when_none_is_open(
    bot: DialogBot, client: Client
) -> None:
    """w1 holds nothing open but closed a ticket this week: the chart draws the period's
    closed work (the second series) beside the open work, so w1 has a bar."""
    text = await page_text(bot, client, "head_it", "/workload")
    assert "<td>w1</td>" in text
    chart = text[text.index("<svg") : text.index("</svg>")]
    assert "No tickets in this period" not in chart
    assert 'class="chart-bar chart-series-1"' in chart


async def test_workload_customers_and_calls_are_scoped(bot: DialogBot, client: Client) -> None:
    assert "<td>w1</td>" in await page_text(bot, client, "head_it", "/workload")
    assert "<td>w1</td>" not in await page_text(bot, client, "head_hr", "/workload")
    admin_customers = await page_text(bot, client, "admin", "/customers")
    assert "Петров Пётр" in admin_customers and "Склад" in admin_customers
    w1_customers = await page_text(bot, client, "w1", "/customers")
    assert "Иванов Иван" in w1_customers and "Петров Пётр" not in w1_customers
    assert ticket_links(await page_text(bot, client, "admin", "/calls")) == {5, 6}
    w1_calls = await page_text(bot, client, "w1", "/calls")
    assert ticket_links(w1_calls) == set() and "No calls in this period" in w1_calls


# --- escaping -----------------------------------------------------------------------------


async def test_hostile_text_is_escaped_everywhere(bot: DialogBot, client: Client) -> None:
    async with bot.sessions() as session, session.begin():
        department = Department(short=HOSTILE_DEPARTMENT, name=HOSTILE)
        session.add(department)
        await session.flush()
        creator = await staff_by_login(session, "operator")
        assert isinstance(creator, Staff)
        session.add(
            Ticket(text=HOSTILE, creator_id=creator.id, department_id=department.id,
                   created_at=NOW - timedelta(hours=1))
        )  # fmt: skip
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; javascript:alert(1) &amp;lt;b&amp;gt;"
    for path in ("/tickets", "/tickets/3", "/"):
        text = await page_text(bot, client, "admin", path)
        assert "<script" not in text and "<img" not in text, path
        assert escaped in text, path
        assert 'href="javascript' not in text, path
    dashboard = await page_text(bot, client, "admin", "/")
    assert "&lt;img src=x onerror=alert(2)&gt;" in dashboard  # a chart label and its table


# --- nothing without a session ------------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES, "/tickets/999"])
async def test_no_page_without_a_session(client: Client, path: str) -> None:
    for cookie in (None, "forged"):
        response = await get(client, path, cookie)
        assert (response.status, response.content_type) == (401, "text/html")
        text = await response.text()
        assert "Signed in as" not in text and "printer" not in text


@pytest.mark.parametrize("path", EXPORTS)
async def test_no_export_without_a_session(client: Client, path: str) -> None:
    response = await get(client, path)
    assert (response.status, response.content_type) == (401, "text/plain")
    assert "#1" not in await response.text()
