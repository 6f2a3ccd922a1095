"""A local stand-in for the SMS providers' HTTP APIs (generic, SMS.ru, Twilio) that records
what it accepts and misbehaves when told: `async with SmsProvider() as provider: ...`."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import socket
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Literal

from aiohttp import web

Fault = Literal[
    "5xx",  # the provider's error answer with a 5xx status (503 unless told)
    "4xx",  # the provider's error answer with a 4xx status (400 unless told)
    "429",  # rate limited
    "slow",  # answers (and accepts) only after slow_seconds
    "close",  # closes the connection without answering
    "garbage",  # HTTP 200 with a body that is not JSON
    "smsru_error",  # SMS.ru: HTTP 200, the whole request refused with `code` (200 unless told)
    "smsru_number_error",  # SMS.ru: HTTP 200, the number refused with `code` (207 unless told)
]
Via = Literal["json", "form", "query"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TWILIO_PATH = "/2010-04-01/Accounts/{sid}/Messages.json"
DEFAULT_ACCOUNT = "AC" + "0" * 32
_DEFAULT_STATUS = {"5xx": 503, "4xx": 400, "429": 429}
# the error code each provider puts in its answer to each fault, unless told
_DEFAULT_CODE = {
    ("5xx", "generic"): 0, ("4xx", "generic"): 0, ("429", "generic"): 0,
    ("5xx", "smsru"): 500, ("4xx", "smsru"): 202, ("429", "smsru"): 220,
    ("5xx", "twilio"): 20500, ("4xx", "twilio"): 21211, ("429", "twilio"): 20429,
}  # fmt: skip
_SMSRU_TEXTS = {
    200: "Неправильный api_id",
    201: "Не хватает средств на лицевом счету",
    202: "Неправильно указан номер телефона получателя, либо на него нет маршрута",
    203: "Нет текста сообщения",
    207: "На этот номер нет маршрута для доставки сообщений",
    220: "Сервис временно недоступен, попробуйте чуть позже",
    500: "Ошибка на сервере. Повторите запрос.",
}
_TWILIO_TEXTS = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.",
    21603: "The 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
}


@dataclass(frozen=True)
class Received:
    """One message the provider accepted, as it arrived."""

    provider: Literal["generic", "smsru", "twilio"]
    to: str
    text: str
    sender: str | None
    key: str | None  # the Idempotency-Key header
    payload: dict[str, str]  # every field of the body or query, under the names sent
    via: Via  # how the fields came: a JSON body, a form body or the query string


@dataclass(frozen=True)
class _Misbehaviour:
    fault: Fault
    status: int | None
    code: int | None


@dataclass
class SmsProvider:
    """The three APIs on 127.0.0.1 and a free port: `/send` (generic), `/sms/send` (SMS.ru)
    and `/2010-04-01/Accounts/{sid}/Messages.json` (Twilio); `url` is the base address.

    `messages` lists what was accepted; `repeats` counts generic requests whose
    Idempotency-Key was already accepted (answered 200, not recorded again); `requests`
    counts every request, misbehaved ones included. `fail_next(...)` makes the next requests
    misbehave."""

    token: str = "provider-token"
    account: str = DEFAULT_ACCOUNT  # the Twilio Account SID
    token_header: str = "Authorization"  # generic: "Authorization" expects "Bearer <token>"
    fields: dict[str, str] = field(
        default_factory=lambda: {"to": "to", "text": "text", "sender": "from"}
    )
    slow_seconds: float = 1.0
    # every answer comes this long after the message was accepted: a client killed in
    # between never hears that it was
    latency: float = 0.0
    messages: list[Received] = field(default_factory=list, init=False)
    repeats: int = field(default=0, init=False)
    requests: int = field(default=0, init=False)
    _faults: deque[_Misbehaviour] = field(default_factory=deque, init=False, repr=False)
    _generic_ids: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _runner: web.AppRunner | None = field(default=None, init=False, repr=False)
    _port: int = field(default=0, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def fail_next(
        self, fault: Fault, times: int = 1, *, status: int | None = None, code: int | None = None
    ) -> None:
        """Misbehave on the next `times` requests; `status` and `code` replace the defaults
        of 5xx/4xx and of the providers' error codes."""
        self._faults.extend([_Misbehaviour(fault, status, code)] * times)

    async def start(self) -> None:
        app = web.Application(middlewares=[self._misbehave])
        app.router.add_route("*", "/send", self._generic, name="generic")
        app.router.add_post("/sms/send", self._smsru, name="smsru")
        app.router.add_post(TWILIO_PATH, self._twilio, name="twilio")
        # a client that gave up stops its handler, so a slow answer never delays stop()
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SmsProvider:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- misbehaving ------------------------------------------------------------------------
    @web.middleware
    async def _misbehave(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests += 1
        if not self._faults:
            response = await handler(request)
            if self.latency:
                await asyncio.sleep(self.latency)
            return response
        bad = self._faults.popleft()
        provider = request.match_info.route.name or "generic"
        if bad.fault == "slow":
            await asyncio.sleep(self.slow_seconds)
            return await handler(request)
        if bad.fault == "close":
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError  # nothing more to write on a closed connection
        if bad.fault == "garbage":
            return web.Response(text="<html>Bad gateway</html>", content_type="text/html")
        if bad.fault == "smsru_error":
            return web.json_response(_smsru_refusal(bad.code or 200))
        if bad.fault == "smsru_number_error":
            to = str((await request.post()).get("to", ""))
            return web.json_response(_smsru_number_refusal(to, bad.code or 207))
        status = bad.status or _DEFAULT_STATUS[bad.fault]
        return _error(provider, status, bad.code or _DEFAULT_CODE[bad.fault, provider])

    # --- the APIs ---------------------------------------------------------------------------
    async def _generic(self, request: web.Request) -> web.StreamResponse:
        bare = self.token_header.lower() != "authorization"
        expected = self.token if bare else f"Bearer {self.token}"
        if request.headers.get(self.token_header) != expected:
            return _error("generic", 401, 0)
        payload = dict(request.query)
        if request.method == "POST":
            payload.update(await _body(request))
        to, text = payload.get(self.fields["to"]), payload.get(self.fields["text"])
        if not to or not text:
            return _error("generic", 400, 0)
        key = request.headers.get("Idempotency-Key")
        if key is not None and key in self._generic_ids:
            self.repeats += 1
            return web.json_response({"id": self._generic_ids[key]})
        sender = payload.get(self.fields["sender"])
        via: Via = "query" if request.method == "GET" else "form"
        if request.method == "POST" and request.content_type == "application/json":
            via = "json"
        message_id = self._record("generic", to, text, sender, request, payload, via)
        if key is not None:
            self._generic_ids[key] = message_id
        return web.json_response({"id": message_id})

    async def _smsru(self, request: web.Request) -> web.StreamResponse:
        payload = {**request.query, **(await request.post())}
        form = {name: str(value) for name, value in payload.items()}
        if form.get("api_id") != self.token:
            return web.json_response(_smsru_refusal(200))
        if not form.get("msg"):
            return web.json_response(_smsru_refusal(203))
        to = form.get("to", "")
        if not to.isdigit():
            return web.json_response(_smsru_number_refusal(to, 202))
        sms_id = self._record("smsru", to, form["msg"], form.get("from"), request, form, "form")
        if form.get("json") != "1":  # SMS.ru answers in lines of text without json=1
            return web.Response(text=f"100\n{sms_id}\nbalance=100.00")
        accepted = {"status": "OK", "status_code": 100, "sms_id": sms_id}
        answer = {"status": "OK", "status_code": 100, "sms": {to: accepted}, "balance": 100.0}
        return web.json_response(answer)

    async def _twilio(self, request: web.Request) -> web.StreamResponse:
        if _basic_auth(request) != (self.account, self.token):
            return _error("twilio", 401, 20003)
        if request.match_info["sid"] != self.account:
            return _error("twilio", 404, 20404)
        form = {name: str(value) for name, value in (await request.post()).items()}
        to, body = form.get("To", ""), form.get("Body", "")
        sender = form.get("From") or form.get("MessagingServiceSid")
        problem = _twilio_problem(to, body, sender)
        if problem:
            return _error("twilio", 400, problem)
        sid = self._record("twilio", to, body, sender, request, form, "form")
        answer = {"sid": sid, "status": "queued", "to": to, "from": sender, "body": body}
        return web.json_response(answer, status=201)

    def _record(
        self,
        provider: Literal["generic", "smsru", "twilio"],
        to: str,
        text: str,
        sender: str | None,
        request: web.Request,
        payload: Mapping[str, str],
        via: Via,
    ) -> str:
        key = request.headers.get("Idempotency-Key")
        self.messages.append(Received(provider, to, text, sender, key, dict(payload), via))
        prefix = {"generic": "msg-", "smsru": "000000-", "twilio": "SM"}[provider]
        return prefix + uuid.uuid4().hex


async def _body(request: web.Request) -> dict[str, str]:
    if request.content_type == "application/json":
        data = await request.json()
        return {str(name): str(value) for name, value in data.items()}
    return {name: str(value) for name, value in (await request.post()).items()}


def _basic_auth(request: web.Request) -> tuple[str, str] | None:
    """The login and password of an `Authorization: Basic ...` header."""
    kind, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        login, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return login, password


def _twilio_problem(to: str, body: str, sender: str | None) -> int | None:
    if not to:
        return 21604
    if not body:
        return 21602
    if not sender:
        return 21603
    if not (to.startswith("+") and to[1:].isdigit()):
        return 21211
    return None


def _smsru_refusal(code: int) -> dict[str, object]:
    return {"status": "ERROR", "status_code": code, "status_text": _SMSRU_TEXTS.get(code, "")}


def _smsru_number_refusal(to: str, code: int) -> dict[str, object]:
    refused = {"status": "ERROR", "status_code": code, "status_text": _SMSRU_TEXTS.get(code, "")}
    return {"status": "OK", "status_code": 100, "sms": {to: refused}}


def _error(provider: str, status: int, code: int) -> web.Response:
    """An error answer in the provider's own shape."""
    body: dict[str, object]
    if provider == "twilio":
        message = _TWILIO_TEXTS.get(code, "Error")
        more = f"https://www.twilio.com/docs/errors/{code}"
        body = {"code": code, "message": message, "more_info": more, "status": status}
    elif provider == "smsru":
        body = _smsru_refusal(code)
    else:
        body = {"error": HTTPStatus(status).phrase, "status": status}
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")
