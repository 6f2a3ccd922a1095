"""The scheduler's catch-up after a late start, and the SMS keys checked together."""

from __future__ import annotations

from datetime import datetime

import pytest
from apscheduler.triggers.cron import CronTrigger

from bot.app import missed_today
from bot.config import ConfigError, parse_config

AGENDA = CronTrigger.from_crontab("30 8 * * mon-fri", timezone="Europe/Moscow")


@pytest.mark.parametrize(
    ("now", "missed"),
    [
        (datetime(2026, 11, 25, 5, 45), True),  # Wednesday 08:45 in Moscow: send it now
        (datetime(2026, 11, 25, 5, 29), False),  # 08:29: it is still to come
        (datetime(2026, 11, 25, 9, 29), True),  # 12:29: within four hours
        (datetime(2026, 11, 25, 9, 31), False),  # 12:31: too late to be useful
        (datetime(2026, 11, 28, 5, 45), False),  # Saturday: no agenda at all
    ],
)
def test_a_late_start_catches_up_on_todays_agenda(now: datetime, missed: bool) -> None:
    assert missed_today(AGENDA, now) is missed


@pytest.mark.parametrize(
    ("sms", "error"),
    [
        ({"provider": "generic"}, "sms.url: required for the generic provider"),
        ({"provider": "smsru"}, "sms.token: required for the smsru provider"),
        ({"provider": "twilio", "token": "t"}, "sms.account: required for the twilio provider"),
        (
            {"provider": "twilio", "token": "t", "account": "AC1"},
            "sms.sender: required for the twilio provider",
        ),
    ],
)
def test_an_sms_provider_without_its_keys_is_a_configuration_error(
    sms: dict[str, str], error: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"xmpp": {"jid": "bot@example.test", "password": "x"}, "sms": sms}, {})
    assert str(refused.value) == error


def test_each_provider_with_its_keys_is_accepted() -> None:
    for sms in (
        {"provider": "generic", "url": "https://sms.example/send"},
        {"provider": "smsru", "token": "t"},
        {"provider": "twilio", "token": "t", "account": "AC1", "sender": "+15550001111"},
    ):
        config = parse_config(
            {"xmpp": {"jid": "bot@example.test", "password": "x"}, "sms": sms}, {}
        )
        assert config.sms is not None and config.sms.provider == sms["provider"]
