"""The e-mail channel against a real SMTP server (aiosmtpd on loopback): what the message
carries, TLS and login, and which failures are worth a retry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from smtp_server import Certificate, SmtpServer, Stage, make_certificate

from bot.channels import Envelope, PermanentFailure, TemporaryFailure
from bot.config import EmailConfig, Secret
from bot.mail import MailChannel, message_id
from bot.servers import free_port

FROM = "helpdesk@corp.example"
TO = "ivanov@corp.example"
USER = "helpdesk"
PASSWORD = "s3cret-Pa55"
TEXT = "Заявка #12: не печатает принтер\nКабинет 305, третий этаж."


def config(address: str, **options: Any) -> EmailConfig:
    """Plain SMTP to `address` unless options say otherwise; a short timeout."""
    options.setdefault("starttls", False)
    options.setdefault("timeout", timedelta(seconds=2))
    return EmailConfig(smtp=address, from_=FROM, **options)


def login(**options: Any) -> dict[str, Any]:
    return {"username": USER, "password": Secret(PASSWORD), **options}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(Path(tmp_path_factory.mktemp("smtp-tls")))


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A plain server without login."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp_tls(certificate: Certificate) -> Iterator[SmtpServer]:
    """STARTTLS required, then a login."""
    with SmtpServer(starttls=certificate, user=(USER, PASSWORD)) as server:
        yield server


# --- the message ------------------------------------------------------------------------


async def test_delivers_a_plain_text_message_with_its_headers(smtp: SmtpServer) -> None:
    await MailChannel(config(smtp.address)).send(Envelope("email:12:5", TO, TEXT))

    [mail] = smtp.received
    assert mail.mail_from == FROM
    assert mail.recipients == [TO]
    message = mail.message
    assert message["From"] == FROM
    assert message["To"] == TO
    assert message["Subject"] == "Заявка #12: не печатает принтер"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"]
    assert message["Message-ID"] == message_id("email:12:5", FROM)
    assert message["Message-ID"].endswith("@corp.example>")
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().rstrip("\n") == TEXT


async def test_an_explicit_subject_wins_and_a_long_first_line_is_cut(smtp: SmtpServer) -> None:
    channel = MailChannel(config(smtp.address))
    await channel.send(Envelope("a", TO, TEXT, subject="Сводка за день"))
    await channel.send(Envelope("b", TO, "слово " * 50))

    first, second = (mail.message["Subject"] for mail in smtp.received)
    assert first == "Сводка за день"
    assert len(second) <= 100
    assert second.startswith("слово слово") and second.endswith("…")


async def test_a_resend_carries_the_same_message_id(smtp: SmtpServer) -> None:
    channel = MailChannel(config(smtp.address))
    await channel.send(Envelope("email:7:1", TO, "first try"))
    await channel.send(Envelope("email:7:1", TO, "first try"))
    await channel.send(Envelope("email:7:2", TO, "another message"))

    ids = [mail.message["Message-ID"] for mail in smtp.received]
    assert ids[0] == ids[1] != ids[2]


def test_message_ids_are_valid_and_distinct_for_keys_that_sanitize_alike() -> None:
    ids = {message_id(key, FROM) for key in ("a:b", "a/b", "a.b", "a b", "a..b")}
    assert len(ids) == 5
    for value in ids:
        left = value.removeprefix("<").removesuffix("@corp.example>")
        assert left.replace(".", "").replace("-", "").replace("_", "").isalnum(), value
        assert ".." not in left and not left.endswith(".")


# --- TLS and login ----------------------------------------------------------------------


async def test_starttls_and_login_without_certificate_verification(
    smtp_tls: SmtpServer,
) -> None:
    channel = MailChannel(config(smtp_tls.address, **login(starttls=True, verify_tls=False)))
    await channel.send(Envelope("k", TO, TEXT))

    assert [mail.recipients for mail in smtp_tls.received] == [[TO]]


# aiosmtpd sees TLS only when it came by STARTTLS, so it must allow AUTH "without" it here
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_implicit_tls_and_login(certificate: Certificate) -> None:
    with SmtpServer(implicit_tls=certificate, user=(USER, PASSWORD)) as server:
        channel = MailChannel(config(server.address, **login(tls=True, verify_tls=False)))
        await channel.send(Envelope("k", TO, TEXT))
        assert len(server.received) == 1


async def test_an_untrusted_certificate_is_a_temporary_failure(smtp_tls: SmtpServer) -> None:
    """EmailConfig has no CA option, so a self-signed certificate with verification on
    can only fail; temporary, because the administrator fixes it (a trusted certificate,
    or verify_tls: false) and the queued messages should then go out."""
    channel = MailChannel(config(smtp_tls.address, **login(starttls=True)))

    with pytest.raises(TemporaryFailure, match=r"(?i)certificate"):
        await channel.send(Envelope("k", TO, TEXT))
    assert smtp_tls.received == []


async def test_a_wrong_password_is_temporary_and_never_shown(smtp_tls: SmtpServer) -> None:
    wrong = "wrong-" + PASSWORD
    options = login(starttls=True, verify_tls=False, password=Secret(wrong))
    channel = MailChannel(config(smtp_tls.address, **options))

    with pytest.raises(TemporaryFailure) as caught:
        await channel.send(Envelope("k", TO, TEXT))
    assert "login" in str(caught.value)
    texts = [str(caught.value), repr(caught.value), str(caught.value.__cause__)]
    assert not any(PASSWORD in text for text in texts)
    assert smtp_tls.received == []


async def test_starttls_asked_but_not_offered_fails_and_sends_nothing(
    smtp: SmtpServer,
) -> None:
    channel = MailChannel(config(smtp.address, starttls=True, verify_tls=False))

    with pytest.raises(TemporaryFailure, match="STARTTLS"):
        await channel.send(Envelope("k", TO, TEXT))
    assert smtp.received == []


# --- replies and connections ------------------------------------------------------------


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
async def test_a_4xx_reply_is_temporary(smtp: SmtpServer, stage: Stage) -> None:
    smtp.fail_next(451, stage)
    channel = MailChannel(config(smtp.address))

    with pytest.raises(TemporaryFailure, match="451"):
        await channel.send(Envelope("k", TO, TEXT))
    await channel.send(Envelope("k", TO, TEXT))  # the retry goes through
    assert len(smtp.received) == 1


@pytest.mark.parametrize(("code", "stage"), [(550, "RCPT"), (552, "DATA"), (554, "DATA")])
async def test_a_5xx_reply_to_the_message_is_permanent(
    smtp: SmtpServer, code: int, stage: Stage
) -> None:
    smtp.fail_next(code, stage)

    with pytest.raises(PermanentFailure, match=str(code)):
        await MailChannel(config(smtp.address)).send(Envelope("k", TO, TEXT))
    assert smtp.received == []


async def test_nothing_listening_is_temporary() -> None:
    channel = MailChannel(config(f"127.0.0.1:{free_port()}"))

    with pytest.raises(TemporaryFailure):
        await channel.send(Envelope("k", TO, TEXT))


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word."""
    server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_a_server_that_never_answers_is_temporary(silent_port: int) -> None:
    channel = MailChannel(config(f"127.0.0.1:{silent_port}", timeout=timedelta(seconds=0.3)))

    with pytest.raises(TemporaryFailure, match=r"(?i)timed out"):
        await channel.send(Envelope("k", TO, TEXT))


async def test_a_line_break_in_the_address_is_permanent(smtp: SmtpServer) -> None:
    channel = MailChannel(config(smtp.address))

    with pytest.raises(PermanentFailure):
        await channel.send(Envelope("k", "a@b.example\nBcc: x@evil.example", TEXT))
    assert smtp.received == []
