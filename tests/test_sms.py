"""The SMS channel against a local stand-in for each provider, and the SMS text rules."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sms_provider import DEFAULT_ACCOUNT, Fault, Received, SmsProvider

from bot.channels import Envelope, PermanentFailure, TemporaryFailure
from bot.config import Secret, SmsConfig, parse_config
from bot.sms import (
    SMSRU_PERMANENT_CODES,
    SMSRU_TEMPORARY_CODES,
    SmsChannel,
    make_sms_channel,
    sms_parts,
    sms_text,
)

TOKEN = "tok-5f0c2a9e-never-shown"
PROVIDERS = ["generic", "smsru", "twilio"]
ENVELOPE = Envelope(
    key="outbox-17", address="+79161234567", text="Ticket #12  assigned\nto you:  printer"
)
SENT_TEXT = "Ticket #12 assigned to you: printer"

MakeChannel = Callable[[SmsConfig], SmsChannel]


@pytest.fixture
async def provider() -> AsyncIterator[SmsProvider]:
    async with SmsProvider(token=TOKEN, slow_seconds=1.0) as server:
        yield server


@pytest.fixture
async def channel() -> AsyncIterator[MakeChannel]:
    """Make channels with `channel(config)`; each is closed after the test."""
    made: list[SmsChannel] = []

    def make(config: SmsConfig) -> SmsChannel:
        made.append(make_sms_channel(config))
        return made[-1]

    yield make
    for each in made:
        await each.close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def sms_config(provider: SmsProvider | str, name: str, **changes: Any) -> SmsConfig:
    """A configuration of provider `name` pointing at the stand-in (or at a base URL)."""
    base = provider if isinstance(provider, str) else provider.url
    url = {"generic": f"{base}/send", "smsru": f"{base}/sms/send", "twilio": base}[name]
    values: dict[str, Any] = {
        "provider": name,
        "url": url,
        "token": Secret(TOKEN),
        "sender": "Helpdesk",
        "account": DEFAULT_ACCOUNT,
        "timeout": timedelta(seconds=0.2),
    }
    return SmsConfig(**{**values, **changes})


# --- every provider ---------------------------------------------------------------------------
FAULTS: list[tuple[Fault, type[Exception]]] = [
    ("5xx", TemporaryFailure),
    ("429", TemporaryFailure),
    ("slow", TemporaryFailure),
    ("close", TemporaryFailure),
    ("4xx", PermanentFailure),
]


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize(("fault", "failure"), FAULTS)
async def test_a_misbehaving_provider_fails_the_right_way_and_then_accepts(
    provider: SmsProvider,
    channel: MakeChannel,
    name: str,
    fault: Fault,
    failure: type[Exception],
) -> None:
    sms = channel(sms_config(provider, name))
    provider.fail_next(fault)

    with pytest.raises(failure) as raised:
        await sms.send(ENVELOPE)

    assert str(raised.value).startswith(f"{name}: ")
    assert TOKEN not in str(raised.value)
    assert len(str(raised.value)) < 100
    assert provider.messages == []
    await sms.send(ENVELOPE)  # the fault was for one request only
    assert [m.text for m in provider.messages] == [SENT_TEXT]


@pytest.mark.parametrize("name", PROVIDERS)
async def test_connection_refused_is_temporary(
    channel: MakeChannel, closed_port: int, name: str
) -> None:
    sms = channel(sms_config(f"http://127.0.0.1:{closed_port}", name))

    with pytest.raises(TemporaryFailure, match=f"^{name}: connection failed") as raised:
        await sms.send(ENVELOPE)

    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_wrong_token_is_permanent_and_never_shown(
    provider: SmsProvider, channel: MakeChannel, name: str
) -> None:
    wrong = "wrong-token-7781"
    sms = channel(sms_config(provider, name, token=Secret(wrong)))

    with pytest.raises(PermanentFailure) as raised:
        await sms.send(ENVELOPE)

    assert wrong not in str(raised.value)
    assert provider.messages == []


@pytest.mark.parametrize("name", ["smsru", "twilio"])
async def test_a_2xx_that_cannot_be_read_is_temporary(
    provider: SmsProvider, channel: MakeChannel, name: str
) -> None:
    provider.fail_next("garbage")

    with pytest.raises(TemporaryFailure, match="HTTP 200 with an unreadable answer"):
        await channel(sms_config(provider, name)).send(ENVELOPE)


async def test_the_adapters_send_the_compacted_text(
    provider: SmsProvider, channel: MakeChannel
) -> None:
    long = Envelope("outbox-18", "+79161234567", "Принтер на третьем этаже снова зажевал " * 5)

    await channel(sms_config(provider, "generic")).send(long)

    assert [m.text for m in provider.messages] == [sms_text(long.text)]
    assert sms_parts(provider.messages[0].text) == 1


# --- generic ----------------------------------------------------------------------------------
async def test_generic_posts_json_with_a_bearer_token(
    provider: SmsProvider, channel: MakeChannel
) -> None:
    await channel(sms_config(provider, "generic")).send(ENVELOPE)

    payload = {"to": "+79161234567", "text": SENT_TEXT, "from": "Helpdesk"}
    assert provider.messages == [
        Received("generic", "+79161234567", SENT_TEXT, "Helpdesk", "outbox-17", payload, "json")
    ]


async def test_generic_posts_a_form_with_its_own_header_and_field_names(
    provider: SmsProvider, channel: MakeChannel
) -> None:
    names = {"to": "phone", "text": "message", "sender": "sign"}
    provider.token_header, provider.fields = "X-Api-Key", names
    config = sms_config(provider, "generic", format="form", token_header="X-Api-Key", fields=names)

    await channel(config).send(ENVELOPE)

    (message,) = provider.messages
    assert message.via == "form"
    assert message.payload == {"phone": "+79161234567", "message": SENT_TEXT, "sign": "Helpdesk"}


async def test_generic_get_sends_a_query_without_sender_when_none(
    provider: SmsProvider, channel: MakeChannel
) -> None:
    await channel(sms_config(provider, "generic", method="GET", sender=None)).send(ENVELOPE)

    (message,) = provider.messages
    assert (message.via, message.sender, message.key) == ("query", None, "outbox-17")
    assert message.payload == {"to": "+79161234567", "text": SENT_TEXT}


async def test_generic_repeat_with_the_same_key_is_recorded_once(
    provider: SmsProvider, channel: MakeChannel
) -> None:
    sms = channel(sms_config(provider, "generic"))

    await sms.send(ENVELOPE)
    await sms.send(ENVELOPE)
    await sms.send(Envelope("outbox-19", ENVELOPE.address, ENVELOPE.text))

    assert [m.key for m in provider.messages] == ["outbox-17", "outbox-19"]
    assert provider.repeats == 1


def test_generic_needs_a_url() -> None:
    with pytest.raises(ValueError, match=r"sms\.url is required"):
        make_sms_channel(SmsConfig(provider="generic", token=Secret(TOKEN)))


def test_the_factory_reads_a_parsed_configuration() -> None:
    raw = {"xmpp": {"jid": "bot@example.org", "password": "pw"}}
    raw["sms"] = {"provider": "smsru", "token": "${SMS_TOKEN}", "timeout": "5s"}
    config = parse_config(raw, {"SMS_TOKEN": TOKEN}).sms

    assert config is not None
    assert make_sms_channel(config).name == "smsru"


# --- SMS.ru -----------------------------------------------------------------------------------
async def test_smsru_posts_its_documented_parameters(
    provider: SmsProvider, channel: MakeChannel
) -> None:
    await channel(sms_config(provider, "smsru")).send(ENVELOPE)

    (message,) = provider.messages
    assert (message.to, message.text, message.sender) == ("79161234567", SENT_TEXT, "Helpdesk")
    assert message.payload == {
        "api_id": TOKEN,
        "to": "79161234567",
        "msg": SENT_TEXT,
        "json": "1",
        "from": "Helpdesk",
    }


@pytest.mark.parametrize(
    ("fault", "code", "failure"),
    [
        ("smsru_error", 200, PermanentFailure),  # wrong api_id
        ("smsru_error", 301, PermanentFailure),  # wrong login
        ("smsru_error", 201, TemporaryFailure),  # no money on the account
        ("smsru_error", 206, TemporaryFailure),  # the daily limit
        ("smsru_error", 220, TemporaryFailure),  # temporarily unavailable
        ("smsru_error", 999, TemporaryFailure),  # a code we do not know
        ("smsru_number_error", 202, PermanentFailure),  # a bad number
        ("smsru_number_error", 207, PermanentFailure),  # no route to the number
        ("smsru_number_error", 209, PermanentFailure),  # in the stop list
        ("smsru_number_error", 205, PermanentFailure),  # text too long
        ("smsru_number_error", 230, TemporaryFailure),  # this number's daily limit
    ],
)
async def test_smsru_http_200_with_an_error_is_classified_by_code(
    provider: SmsProvider,
    channel: MakeChannel,
    fault: Fault,
    code: int,
    failure: type[Exception],
) -> None:
    provider.fail_next(fault, code=code)

    with pytest.raises(failure, match=rf"^smsru: HTTP 200 code {code}\b") as raised:
        await channel(sms_config(provider, "smsru")).send(ENVELOPE)

    assert TOKEN not in str(raised.value)


def test_smsru_codes_are_either_temporary_or_permanent() -> None:
    assert not SMSRU_TEMPORARY_CODES & SMSRU_PERMANENT_CODES


def test_smsru_needs_a_token() -> None:
    with pytest.raises(ValueError, match="api_id"):
        make_sms_channel(SmsConfig(provider="smsru"))


# --- Twilio -----------------------------------------------------------------------------------
async def test_twilio_posts_a_form_with_basic_auth(
    provider: SmsProvider, channel: MakeChannel
) -> None:
    await channel(sms_config(provider, "twilio", sender="+15005550006")).send(ENVELOPE)

    (message,) = provider.messages
    assert message.payload == {"To": "+79161234567", "From": "+15005550006", "Body": SENT_TEXT}


async def test_twilio_sends_a_messaging_service_sid_as_such(
    provider: SmsProvider, channel: MakeChannel
) -> None:
    service = "MG" + "1" * 32
    await channel(sms_config(provider, "twilio", sender=service)).send(ENVELOPE)

    (message,) = provider.messages
    assert message.payload["MessagingServiceSid"] == service
    assert "From" not in message.payload


async def test_twilio_4xx_names_its_error_code(provider: SmsProvider, channel: MakeChannel) -> None:
    provider.fail_next("4xx", code=21211)

    with pytest.raises(PermanentFailure) as raised:
        await channel(sms_config(provider, "twilio")).send(ENVELOPE)

    assert str(raised.value) == "twilio: HTTP 400 code 21211"


@pytest.mark.parametrize(("missing", "what"), [("account", "Account SID"), ("sender", "sender")])
def test_twilio_needs_an_account_and_a_sender(missing: str, what: str) -> None:
    config = sms_config("http://127.0.0.1:9", "twilio", **{missing: None})

    with pytest.raises(ValueError, match=what):
        make_sms_channel(config)


# --- texts ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("я" * 70, 1),
        ("я" * 71, 2),
        ("я" * 134, 2),
        ("я" * 135, 3),
        ("{" * 80, 1),  # extension characters take two septets
        ("{" * 81, 2),
        ("a" * 158 + "€", 1),
        ("a" * 159 + "€", 2),
        ("a" * 152 + "{" + "a" * 152, 3),  # an escape pair is never split across parts
        ("a" * 69 + "я", 1),  # one Cyrillic letter makes the whole text UCS-2
        ("a" * 70 + "я", 2),
        ("😀" * 35, 1),  # beyond the BMP: two UTF-16 units each
        ("😀" * 36, 2),
    ],
)
def test_sms_parts(text: str, parts: int) -> None:
    assert sms_parts(text) == parts


def test_sms_text_collapses_whitespace() -> None:
    assert sms_text("  #12\n\nprinter\t jams  ") == "#12 printer jams"


def test_sms_text_keeps_a_notice_first_line_in_gsm7() -> None:
    """The chat's first line has a dash and may end in an ellipsis; in an SMS they become
    their GSM-7 look-alikes, so an English notice keeps 160 characters a part."""
    line = "#124 !high printer on floor 3 jams again and again and again… — from Smith J."
    text = sms_text(line + " x" * 30)
    assert text.startswith("#124 !high printer on floor 3 jams again and again and again... - from")
    assert sms_parts(text) == 1 and len(text) > 70  # GSM-7: more than UCS-2's 70 fit
    assert "—" not in text and "…" not in text


def test_sms_text_leaves_a_fitting_text_whole() -> None:
    assert sms_text("a" * 160) == "a" * 160


def test_sms_text_cuts_latin_at_a_word_boundary_keeping_gsm() -> None:
    text = " ".join(f"word{n}" for n in range(60))

    short = sms_text(text)

    assert short.endswith("...")  # "…" would turn the text into UCS-2: 70 characters
    assert sms_parts(short) == 1
    assert len(short) > 150
    kept = short.removesuffix("...")
    assert text.startswith(kept + " ")


def test_sms_text_cuts_cyrillic_with_an_ellipsis() -> None:
    text = "Принтер на третьем этаже снова зажевал бумагу, нужен мастер срочно сегодня"

    short = sms_text(text)

    assert short == "Принтер на третьем этаже снова зажевал бумагу, нужен мастер срочно…"
    assert sms_parts(short) == 1


def test_sms_text_keeps_gsm_when_the_cyrillic_part_is_cut_off() -> None:
    text = "Printer on floor 3 jams again. " * 6 + "Москва"

    short = sms_text(text)

    assert short.endswith("...") and len(short) > 150


def test_sms_text_may_use_more_parts() -> None:
    text = "слово " * 40

    short = sms_text(text, limit_parts=2)

    assert sms_parts(short) == 2 and short.endswith("…")
    assert len(short) > 120


def test_sms_text_cuts_one_endless_word() -> None:
    assert sms_text("a" * 200) == "a" * 157 + "..."


def test_sms_text_needs_a_part() -> None:
    with pytest.raises(ValueError):
        sms_text("hi", limit_parts=0)
