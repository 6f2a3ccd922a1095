"""The SMS channel: one notification sent through an SMS provider's HTTP API.

One adapter per provider (a generic JSON/form endpoint, SMS.ru, Twilio) on one base that
owns the HTTP session and turns every way a request can fail into the outbox's
TemporaryFailure or PermanentFailure, with a short text that never holds the token."""

from __future__ import annotations

import base64
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import aiohttp

from bot.channels import Envelope, PermanentFailure, TemporaryFailure
from bot.config import SmsConfig

# --- counting and compacting texts ------------------------------------------------------------
# GSM 03.38: the basic alphabet takes one septet a character, the extension table two (an
# escape and the character); any other character makes the whole message UCS-2.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
# (one part, each part of a concatenated message): a concatenated part loses room to its header
GSM7_LIMITS = (160, 153)
UCS2_LIMITS = (70, 67)
# "…" is not GSM-7: ending a GSM-7 text with it would shrink a part from 160 to 70 characters
GSM7_CUT_MARK = "..."
UCS2_CUT_MARK = "…"
_CUT_STRIP = " ,;:-–—"


def _is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _weights(text: str) -> tuple[list[int], tuple[int, int]]:
    """Each character's size in the message's encoding, and that encoding's part limits."""
    if _is_gsm7(text):
        return [2 if c in GSM7_EXTENSION else 1 for c in text], GSM7_LIMITS
    # UCS-2 on the wire is UTF-16: a character beyond the BMP (an emoji) takes two units
    return [2 if ord(c) > 0xFFFF else 1 for c in text], UCS2_LIMITS


def sms_parts(text: str) -> int:
    """How many SMS parts the text takes; an empty text still takes one."""
    weights, (single, per_part) = _weights(text)
    if sum(weights) <= single:
        return 1
    parts, room = 1, per_part
    for weight in weights:  # phones never split an escape pair or a surrogate pair
        if weight > room:
            parts, room = parts + 1, per_part
        room -= weight
    return parts


def _longest_cut(text: str, mark: str, limit_parts: int) -> str:
    """The longest start of text, cut at a word boundary, that fits with mark after it
    (the mark not included)."""
    low, high = 0, len(text)  # text[:low] fits; text[:high + 1] does not
    while low < high:
        middle = (low + high + 1) // 2
        if sms_parts(text[:middle] + mark) <= limit_parts:
            low = middle
        else:
            high = middle - 1
    end = low
    if end < len(text) and text[end] != " ":
        space = text.rfind(" ", 0, end)
        end = space if space > 0 else end  # one endless word: cut it where it stops fitting
    return text[:end].rstrip(_CUT_STRIP)


# punctuation the chat texts use that GSM-7 lacks, and its GSM-7 look-alike: one dash or
# ellipsis would otherwise make a whole English text UCS-2, 70 characters a part, not 160
_GSM7_LOOKALIKES = str.maketrans({"—": "-", "–": "-", "…": "...", "«": '"', "»": '"'})


def sms_text(text: str, limit_parts: int = 1) -> str:
    """The text on one line (dashes, ellipses and guillemets in their GSM-7 look-alikes),
    cut at a word boundary with an ellipsis when it would take more than limit_parts SMS
    parts."""
    if limit_parts < 1:
        raise ValueError("limit_parts must be at least 1")
    line = " ".join(text.translate(_GSM7_LOOKALIKES).split())
    if sms_parts(line) <= limit_parts:
        return line
    if _is_gsm7(line):
        return _longest_cut(line, GSM7_CUT_MARK, limit_parts) + GSM7_CUT_MARK
    kept = _longest_cut(line, UCS2_CUT_MARK, limit_parts)
    # when what does not fit holds the only non-GSM characters, a GSM-7 start keeps more
    kept_gsm7 = _longest_cut(line, GSM7_CUT_MARK, limit_parts)
    if len(kept_gsm7) > len(kept):
        return kept_gsm7 + GSM7_CUT_MARK
    return kept + UCS2_CUT_MARK


# --- the channel ------------------------------------------------------------------------------
SMSRU_URL = "https://sms.ru/sms/send"
TWILIO_URL = "https://api.twilio.com"
_DETAIL_CHARS = 60

# SMS.ru's status codes (answer format: https://sms.ru/api/send; the codes' table is on
# https://sms.ru/api/status). Worth trying later: money on the account (201), the daily
# limits of the account and of one number (206, 230-233), "service temporarily unavailable"
# (220) and "server error, repeat the request" (500). A code in neither set is retried too:
# the outbox gives up after its attempts anyway.
SMSRU_TEMPORARY_CODES = frozenset({201, 206, 220, 230, 231, 232, 233, 500})
# Failing the same way each time: a wrong api_id or login (200, 300-302), a bad number or one
# without a route (202, 207), no text or a text too long or not UTF-8 (203, 205, 212), a
# sender name not agreed (204), a bad time (208), a number in the stop list (209), a wrong
# method or too many numbers (210, 211, 213).
SMSRU_PERMANENT_CODES = frozenset(
    {200, 202, 203, 204, 205, 207, 208, 209, 210, 211, 212, 213, 300, 301, 302}
)


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str] | None = None  # the query string
    form: dict[str, str] | None = None
    json: dict[str, str] | None = None


def _parsed(body: bytes) -> object:
    """The JSON body, or None when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        return None


def _short(text: object, secret: str) -> str:
    """A provider's own words, short and with the token masked, for an exception's text."""
    words = " ".join(str(text).split())
    if secret:
        words = words.replace(secret, "***")
    return words if len(words) <= _DETAIL_CHARS else words[: _DETAIL_CHARS - 1] + "…"


def _required(value: str | None, what: str) -> str:
    if not value:
        raise ValueError(what)
    return value


class SmsChannel(ABC):
    """Sends one envelope as one SMS; the adapters say how to ask and how to read the answer.

    The aiohttp session is made on the first send, inside the running loop; close() ends it."""

    name: ClassVar[str] = "sms"
    # whether the provider drops a repeat of a message it accepted (bot/delivery.py):
    # only then is a send interrupted by a crash sent again
    idempotent: ClassVar[bool] = False

    def __init__(self, config: SmsConfig) -> None:
        self.config = config
        self._token = config.token.reveal() if config.token else ""
        self._timeout = aiohttp.ClientTimeout(total=config.timeout.total_seconds())
        self._session: aiohttp.ClientSession | None = None

    async def send(self, envelope: Envelope) -> None:
        request = self._request(envelope, sms_text(envelope.text))
        status, body = await self._exchange(request)
        if 200 <= status < 300:
            self._check_answer(status, body)
            return
        failure = TemporaryFailure if status == 429 or status >= 500 else PermanentFailure
        raise failure(f"{self.name}: HTTP {status}{self._error_detail(body)}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @abstractmethod
    def _request(self, envelope: Envelope, text: str) -> _Request:
        """The provider's request for one message."""

    def _check_answer(self, status: int, body: bytes) -> None:  # noqa: B027 (optional hook)
        """Raise when a 2xx answer still says the message was not accepted; any 2xx is an
        acceptance unless the adapter says otherwise."""

    def _error_detail(self, body: bytes) -> str:
        """What to add to "HTTP 4xx" from the provider's error answer."""
        return ""

    def _headers(self, envelope: Envelope) -> dict[str, str]:
        return {"Idempotency-Key": envelope.key}

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _exchange(self, request: _Request) -> tuple[int, bytes]:
        """Send the request; the status and body of the answer. Never follows a redirect:
        a POST turned into a GET would lose the message."""
        try:
            async with self._http().request(
                request.method,
                request.url,
                params=request.params,
                data=request.form,
                json=request.json,
                headers=request.headers,
                allow_redirects=False,
            ) as response:
                return response.status, await response.read()
        except TimeoutError:
            seconds = self.config.timeout.total_seconds()
            raise TemporaryFailure(f"{self.name}: no answer within {seconds:g} s") from None
        except aiohttp.ClientError as exc:
            # from None: aiohttp's own text names the address, which may carry the token
            raise TemporaryFailure(f"{self.name}: connection failed ({_why(exc)})") from None

    def _unreadable(self, status: int) -> TemporaryFailure:
        return TemporaryFailure(f"{self.name}: HTTP {status} with an unreadable answer")


def _why(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError) and exc.os_error.strerror:
        return exc.os_error.strerror
    return type(exc).__name__


class GenericSms(SmsChannel):
    """Any provider taking the number and the text as JSON, a form or a query; any 2xx
    means accepted."""

    name = "generic"
    # the Idempotency-Key header makes a repeat safe: an interrupted send is sent again
    idempotent: ClassVar[bool] = True

    def __init__(self, config: SmsConfig) -> None:
        super().__init__(config)
        self._url = _required(config.url, "sms.url is required for the generic provider")

    def _request(self, envelope: Envelope, text: str) -> _Request:
        names = self.config.fields
        payload = {names["to"]: envelope.address, names["text"]: text}
        if self.config.sender is not None:
            payload[names["sender"]] = self.config.sender
        headers = self._headers(envelope)
        if self._token:
            bearer = self.config.token_header.lower() == "authorization"
            headers[self.config.token_header] = f"Bearer {self._token}" if bearer else self._token
        if self.config.method == "GET":
            return _Request("GET", self._url, headers, params=payload)
        if self.config.format == "form":
            return _Request("POST", self._url, headers, form=payload)
        return _Request("POST", self._url, headers, json=payload)


class SmsRu(SmsChannel):
    """SMS.ru: answers HTTP 200 and says in its JSON whether the request and the number
    were accepted."""

    name = "smsru"

    def __init__(self, config: SmsConfig) -> None:
        super().__init__(config)
        _required(self._token, "sms.token (the api_id) is required for SMS.ru")
        self._url = config.url or SMSRU_URL

    def _request(self, envelope: Envelope, text: str) -> _Request:
        form = {"api_id": self._token, "to": _digits(envelope.address), "msg": text, "json": "1"}
        if self.config.sender is not None:
            form["from"] = self.config.sender
        return _Request("POST", self._url, self._headers(envelope), form=form)

    def _check_answer(self, status: int, body: bytes) -> None:
        answer = _parsed(body)
        if not isinstance(answer, dict) or "status" not in answer:
            raise self._unreadable(status)
        if answer["status"] != "OK":
            raise self._refusal(status, answer)
        numbers = answer.get("sms")
        if not isinstance(numbers, dict) or len(numbers) != 1:
            raise self._unreadable(status)
        (number,) = numbers.values()  # one number was sent, so one is answered
        if not isinstance(number, dict):
            raise self._unreadable(status)
        if number.get("status") != "OK":
            raise self._refusal(status, number)

    def _error_detail(self, body: bytes) -> str:
        answer = _parsed(body)
        code = _code(answer.get("status_code")) if isinstance(answer, dict) else None
        return "" if code is None else f" code {code}"

    def _refusal(self, status: int, answer: dict[str, object]) -> Exception:
        code = _code(answer.get("status_code"))
        said = answer.get("status_text")
        text = f"{self.name}: HTTP {status} code {code}"
        if said:
            text += f" ({_short(said, self._token)})"
        if code in SMSRU_PERMANENT_CODES:
            return PermanentFailure(text)
        return TemporaryFailure(text)  # SMSRU_TEMPORARY_CODES and codes not known here


def _code(value: object) -> int | None:
    """A status code given as a number or as digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _digits(address: str) -> str:
    return "".join(c for c in address if c.isdigit())


class TwilioSms(SmsChannel):
    """Twilio's Messages API: 201 with the message's sid means accepted."""

    name = "twilio"

    def __init__(self, config: SmsConfig) -> None:
        super().__init__(config)
        account = _required(config.account, "sms.account (the Account SID) is required for Twilio")
        _required(self._token, "sms.token (the auth token) is required for Twilio")
        self._sender = _required(
            config.sender, "sms.sender (a number or a Messaging Service SID) is required for Twilio"
        )
        base = (config.url or TWILIO_URL).rstrip("/")
        self._url = f"{base}/2010-04-01/Accounts/{account}/Messages.json"
        credentials = base64.b64encode(f"{account}:{self._token}".encode()).decode("ascii")
        self._authorization = f"Basic {credentials}"

    def _request(self, envelope: Envelope, text: str) -> _Request:
        # a Messaging Service SID instead of a number lets Twilio pick the sender
        sender_key = "MessagingServiceSid" if self._sender.startswith("MG") else "From"
        form = {"To": envelope.address, sender_key: self._sender, "Body": text}
        headers = self._headers(envelope) | {"Authorization": self._authorization}
        return _Request("POST", self._url, headers, form=form)

    def _check_answer(self, status: int, body: bytes) -> None:
        answer = _parsed(body)
        if not isinstance(answer, dict) or not answer.get("sid"):
            raise self._unreadable(status)

    def _error_detail(self, body: bytes) -> str:
        answer = _parsed(body)
        code = _code(answer.get("code")) if isinstance(answer, dict) else None
        return "" if code is None else f" code {code}"


_ADAPTERS: dict[str, type[SmsChannel]] = {
    "generic": GenericSms,
    "smsru": SmsRu,
    "twilio": TwilioSms,
}


def make_sms_channel(config: SmsConfig) -> SmsChannel:
    """The channel for config.provider; ValueError when a key that provider needs is missing."""
    return _ADAPTERS[config.provider](config)
