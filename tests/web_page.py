"""The web page in-process for the sign-in tests: aiohttp test clients with no cookie jar,
so each request carries exactly the session cookie a test gives it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import ClientResponse, DummyCookieJar, web
from aiohttp.test_utils import TestClient, TestServer

from web_readonly.security import runner_options

Client = TestClient[web.Request, web.Application]


async def page_client(app: web.Application) -> Client:
    """A started client of `app` on a test server started as make_runner starts it (the
    masked access log); close it after."""
    server = TestServer(app)
    await server.start_server(**runner_options())
    client: Client = TestClient(server, cookie_jar=DummyCookieJar())
    await client.start_server()
    return client


@asynccontextmanager
async def page_clients() -> AsyncIterator[Callable[[web.Application], Awaitable[Client]]]:
    """`await open_client(app)` for a `page_client` of each app; all closed after the block."""
    clients: list[Client] = []

    async def open_client(app: web.Application) -> Client:
        client = await page_client(app)
        clients.append(client)
        return client

    try:
        yield open_client
    finally:
        for client in clients:
            await client.close()


async def get(client: Client, path: str, cookie: str | None = None) -> ClientResponse:
    """GET `path` with that session cookie (or none), not following a redirect."""
    headers = {"Cookie": f"hd_session={cookie}"} if cookie else {}
    return await client.get(path, headers=headers, allow_redirects=False)


async def signed_in_as(client: Client, cookie: str) -> str | None:
    """The login the home page greets with that session cookie; None when it is refused."""
    response = await get(client, "/", cookie)
    if response.status != 200:
        return None
    found = re.search(r"Signed in as @(\w+)", await response.text())
    return found[1] if found else None
