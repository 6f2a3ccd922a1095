"""Tests of bot.config: bot.yaml validation, ${VAR} substitution, HELPDESK_* overrides, secrets."""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import (
    Config,
    ConfigError,
    DatabaseConfig,
    EmailConfig,
    EscalationConfig,
    LdapConfig,
    PhonebookConfig,
    ScheduleConfig,
    Secret,
    SmsConfig,
    WebConfig,
    XmppConfig,
    config_path,
    load_config,
    parse_config,
)

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "Zq9-hunter2-SECRET-xyzzy"  # distinctive, so any leak is found by substring
SECRETS = {
    "HELPDESK_XMPP_PASSWORD": PASSWORD,
    "HELPDESK_LDAP_PASSWORD": PASSWORD + "-ldap",
    "HELPDESK_SMS_TOKEN": PASSWORD + "-sms",
    "HELPDESK_SMTP_PASSWORD": PASSWORD + "-smtp",
}

FULL_YAML = """
xmpp:
  jid: helpdesk@company.example
  password: ${HELPDESK_XMPP_PASSWORD}
  server: 127.0.0.1:5222
  tls: starttls
  verify_tls: true
  rooms:
    it: it@conference.company.example
database:
  url: postgresql+asyncpg://helpdesk@db.company.example/helpdesk
ldap:
  url: ldaps://dc.company.example
  bind_dn: CN=helpdesk,OU=Service,DC=company,DC=example
  password: ${HELPDESK_LDAP_PASSWORD}
  base_dn: OU=People,DC=company,DC=example
  filter: (&(objectClass=user)(objectCategory=person))
  page_size: 200
  attributes:
    login: sAMAccountName
    full_name: displayName
    email: mail
    department: department
    phone: telephoneNumber
    disabled: userAccountControl
  staff_group: CN=Helpdesk,OU=Groups,DC=company,DC=example
phonebook:
  columns: {full_name: ФИО, phone: Телефон, room: Кабинет}
web:
  listen: 0.0.0.0:8081
  public_url: https://helpdesk.company.example
sms:
  provider: smsru
  url: https://sms.example/send
  token: ${HELPDESK_SMS_TOKEN}
  sender: HELPDESK
email:
  smtp: mail.company.example:587
  starttls: true
  username: helpdesk
  password: ${HELPDESK_SMTP_PASSWORD}
  from: helpdesk@company.example
schedule:
  timezone: Asia/Yekaterinburg
  agenda: "0 9 * * mon-fri"
  ldap_sync: "0 3 * * *"
escalation:
  take_within: {urgent: 10m, high: 2h30m, normal: 4h, low: 1d}
language: en
"""


def full_data() -> dict[str, Any]:
    data = yaml.safe_load(FULL_YAML)
    assert isinstance(data, dict)
    return data


def minimal_data() -> dict[str, Any]:
    return {"xmpp": {"jid": "helpdesk@localhost", "password": PASSWORD}}


def with_value(data: dict[str, Any], dotted: str, value: object) -> dict[str, Any]:
    """A copy of data with value at the dotted key (the key is removed when value is ...)."""
    result = copy.deepcopy(data)
    *parents, last = dotted.split(".")
    node = result
    for part in parents:
        node = node.setdefault(part, {})
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return result


def config_error(data: object, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, environ or {})
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert PASSWORD not in message
    return message


# --- valid configurations ---------------------------------------------------------------------


def test_full_config_round_trips_to_the_dataclasses() -> None:
    config = parse_config(full_data(), SECRETS)

    assert config == Config(
        xmpp=XmppConfig(
            jid="helpdesk@company.example",
            password=Secret(PASSWORD),
            server="127.0.0.1:5222",
            tls="starttls",
            verify_tls=True,
            rooms={"it": "it@conference.company.example"},
        ),
        database=DatabaseConfig(url="postgresql+asyncpg://helpdesk@db.company.example/helpdesk"),
        ldap=LdapConfig(
            url="ldaps://dc.company.example",
            bind_dn="CN=helpdesk,OU=Service,DC=company,DC=example",
            password=Secret(PASSWORD + "-ldap"),
            base_dn="OU=People,DC=company,DC=example",
            page_size=200,
            staff_group="CN=Helpdesk,OU=Groups,DC=company,DC=example",
        ),
        phonebook=PhonebookConfig(
            columns={"full_name": "ФИО", "phone": "Телефон", "room": "Кабинет"}
        ),
        web=WebConfig(listen="0.0.0.0:8081", public_url="https://helpdesk.company.example"),
        sms=SmsConfig(
            provider="smsru",
            url="https://sms.example/send",
            token=Secret(PASSWORD + "-sms"),
            sender="HELPDESK",
        ),
        email=EmailConfig(
            smtp="mail.company.example:587",
            username="helpdesk",
            password=Secret(PASSWORD + "-smtp"),
            from_="helpdesk@company.example",
        ),
        schedule=ScheduleConfig(
            timezone="Asia/Yekaterinburg", agenda="0 9 * * mon-fri", ldap_sync="0 3 * * *"
        ),
        escalation=EscalationConfig(
            take_within={
                "urgent": timedelta(minutes=10),
                "high": timedelta(hours=2, minutes=30),
                "normal": timedelta(hours=4),
                "low": timedelta(days=1),
            }
        ),
        language="en",
    )


def test_minimal_config_takes_every_default() -> None:
    config = parse_config(minimal_data(), {})

    assert config.xmpp == XmppConfig(jid="helpdesk@localhost", password=Secret(PASSWORD))
    assert (config.xmpp.server, config.xmpp.tls, config.xmpp.verify_tls) == (None, "starttls", True)
    assert config.database.url == "sqlite+aiosqlite:///helpdesk.db"
    assert (config.ldap, config.sms, config.email) == (None, None, None)
    assert config.phonebook.columns == {}
    assert config.web == WebConfig(listen="127.0.0.1:8080", public_url=None)
    assert config.schedule == ScheduleConfig("Europe/Moscow", "30 8 * * mon-fri", "0 2 * * *")
    assert config.escalation.take_within == {
        "urgent": timedelta(minutes=15),
        "high": timedelta(hours=1),
        "normal": timedelta(hours=4),
        "low": timedelta(days=1),
    }
    assert config.language == "ru"


def test_ldap_defaults_and_partial_mappings_keep_the_other_defaults() -> None:
    data = with_value(full_data(), "ldap", {
        "url": "ldap://127.0.0.1:3389", "bind_dn": "cn=admin,dc=test", "password": "pw",
        "base_dn": "dc=test", "attributes": {"login": "uid"},
    })  # fmt: skip
    data = with_value(data, "escalation.take_within", {"urgent": "90s"})

    config = parse_config(data, SECRETS)

    assert config.ldap is not None
    assert config.ldap.filter == "(&(objectClass=user)(objectCategory=person))"
    assert config.ldap.page_size == 500 and config.ldap.staff_group is None
    assert config.ldap.attributes["login"] == "uid"
    assert config.ldap.attributes["full_name"] == "displayName"
    assert config.escalation.take_within["urgent"] == timedelta(seconds=90)
    assert config.escalation.take_within["low"] == timedelta(days=1)


def test_empty_sections_and_empty_optional_values() -> None:
    data = {**minimal_data(), "database": None, "ldap": None, "web": {"public_url": ""}}

    config = parse_config(data, {})

    assert config.database == DatabaseConfig()
    assert config.ldap is None
    assert config.web.public_url is None


@pytest.mark.parametrize(
    ("server", "tls", "expected"),
    [
        (None, "starttls", None),
        ("127.0.0.1:5222", "starttls", ("127.0.0.1", 5222)),
        ("xmpp.company.example", "starttls", ("xmpp.company.example", 5222)),
        ("xmpp.company.example", "direct", ("xmpp.company.example", 5223)),
        ("xmpp.company.example", "none", ("xmpp.company.example", 5222)),
        ("[::1]:5280", "starttls", ("::1", 5280)),
        ("[::1]", "direct", ("::1", 5223)),
    ],
)
def test_host_port(server: str | None, tls: str, expected: tuple[str, int] | None) -> None:
    data = with_value(with_value(minimal_data(), "xmpp.server", server), "xmpp.tls", tls)

    assert parse_config(data, {}).xmpp.host_port() == expected


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("xmpp.tls", "ssl", "xmpp.tls: expected one of starttls, direct, none, got 'ssl'"),
        ("xmpp.verify_tls", "yes", "xmpp.verify_tls: expected true or false, got 'yes'"),
        ("xmpp.verify_tls", 1, "xmpp.verify_tls: expected true or false, got 1"),
        ("xmpp.jid", ..., "xmpp.jid: required key is missing"),
        ("xmpp.password", ..., "xmpp.password: required key is missing"),
        ("xmpp.jid", "helpdesk", "xmpp.jid: expected local@domain, got 'helpdesk'"),
        ("xmpp.jid", None, "xmpp.jid: expected a non-empty string, got null"),
        ("xmpp.jid", ["a@b"], "xmpp.jid: expected a non-empty string, got a list"),
        ("xmpp.server", "host:99999", "xmpp.server: expected host or host:port, got 'host:99999'"),
        ("xmpp.server", "host:", "xmpp.server: expected host or host:port, got 'host:'"),
        ("xmpp.rooms", ["it"], "xmpp.rooms: expected a mapping, got a list"),
        ("xmpp.rooms.it", "it", "xmpp.rooms.it: expected local@domain, got 'it'"),
        ("xmpp.resource", "bot", "xmpp.resource: unknown key"),
        (
            "xmpp",
            "helpdesk@localhost",
            "xmpp: expected a mapping of keys, got 'helpdesk@localhost'",
        ),
        ("database.urll", "sqlite://", "database.urll: unknown key"),
        (
            "database.url",
            "helpdesk.db",
            "database.url: expected a URL like sqlite+aiosqlite:///helpdesk.db, got 'helpdesk.db'",
        ),
        ("databases", {}, "databases: unknown key"),
        ("ldap.url", ..., "ldap.url: required key is missing"),
        ("ldap.url", "http://dc", "ldap.url: expected an ldap:// or ldaps:// URL, got 'http://dc'"),
        ("ldap.page_size", "many", "ldap.page_size: expected an integer, got 'many'"),
        ("ldap.page_size", True, "ldap.page_size: expected an integer, got true"),
        ("ldap.page_size", 0, "ldap.page_size: expected a positive integer, got 0"),
        (
            "ldap.filter",
            "objectClass=user",
            "ldap.filter: expected an LDAP filter in parentheses, got 'objectClass=user'",
        ),
        (
            "ldap.attributes.shoe_size",
            "x",
            "ldap.attributes.shoe_size: unknown key, expected "
            "one of login, full_name, email, department, phone, disabled",
        ),
        (
            "phonebook.columns.phone",
            42,
            "phonebook.columns.phone: expected a non-empty string, got 42",
        ),
        ("web.listen", "localhost", "web.listen: expected host:port, got 'localhost'"),
        (
            "web.public_url",
            "helpdesk",
            "web.public_url: expected an http:// or https:// URL, got 'helpdesk'",
        ),
        (
            "sms.provider",
            "pigeon",
            "sms.provider: expected one of generic, smsru, twilio, got 'pigeon'",
        ),
        ("email.from", ..., "email.from: required key is missing"),
        ("email.from", "helpdesk", "email.from: expected local@domain, got 'helpdesk'"),
        ("email.from_", "a@b", "email.from_: unknown key"),
        ("email.starttls", "on", "email.starttls: expected true or false, got 'on'"),
        (
            "schedule.timezone",
            "Mars/Olympus",
            "schedule.timezone: expected a time zone name like Europe/Moscow, got 'Mars/Olympus'",
        ),
        (
            "schedule.agenda",
            "every morning",
            "schedule.agenda: expected a crontab line of 5 "
            "fields like '30 8 * * mon-fri', got 'every morning'",
        ),
        (
            "escalation.take_within.someday",
            "1d",
            "escalation.take_within.someday: unknown key, "
            "expected one of urgent, high, normal, low",
        ),
        (
            "escalation.take_within.urgent",
            "soon",
            "escalation.take_within.urgent: expected a "
            "duration like 90s, 15m, 1h, 2h30m or 1d, got 'soon'",
        ),
        (
            "escalation.take_within.urgent",
            15,
            "escalation.take_within.urgent: expected a "
            "duration like 90s, 15m, 1h, 2h30m or 1d, got 15",
        ),
        (
            "escalation.take_within.urgent",
            "0m",
            "escalation.take_within.urgent: expected a "
            "duration like 90s, 15m, 1h, 2h30m or 1d, got '0m'",
        ),
        ("language", "de", "language: expected one of en, ru, got 'de'"),
    ],
)
def test_errors_name_the_key_and_what_was_expected(key: str, value: object, message: str) -> None:
    assert config_error(with_value(full_data(), key, value), SECRETS) == message


def test_a_configuration_that_is_not_a_mapping() -> None:
    assert config_error(["xmpp"]) == "the configuration: expected a mapping of keys, got a list"


def test_an_empty_configuration_asks_for_the_required_keys() -> None:
    assert config_error(None) == "xmpp.jid: required key is missing"


@pytest.mark.parametrize("bad_password", [987654321, [PASSWORD], {"value": PASSWORD}, ""])
def test_a_bad_secret_is_never_echoed(bad_password: object) -> None:
    message = config_error(with_value(minimal_data(), "xmpp.password", bad_password))

    assert message == "xmpp.password: expected a non-empty string"
    assert "987654321" not in message


# --- secrets ----------------------------------------------------------------------------------


def test_secret_hides_its_value() -> None:
    secret = Secret(PASSWORD)

    assert str(secret) == repr(secret) == f"{secret}" == "***"
    assert secret.reveal() == PASSWORD
    assert secret == Secret(PASSWORD) and secret != Secret("other") and secret != PASSWORD
    assert hash(secret) == hash(Secret(PASSWORD))
    assert secret and not Secret("")


def test_secrets_never_appear_in_str_or_repr_of_the_config() -> None:
    config = parse_config(full_data(), SECRETS)

    for text in (str(config), repr(config), str(config.xmpp), repr(config.email)):
        assert PASSWORD not in text
        assert "***" in text
    assert config.xmpp.password.reveal() == PASSWORD
    assert config.sms is not None and config.sms.token == Secret(PASSWORD + "-sms")


def test_errors_elsewhere_do_not_leak_secrets_from_overrides() -> None:
    environ = {**SECRETS, "HELPDESK_XMPP__PASSWORD": PASSWORD, "HELPDESK_XMPP__TLS": "tls"}

    message = config_error(full_data(), environ)

    assert (
        message == "xmpp.tls: expected one of starttls, direct, none, got 'tls' (from "
        "HELPDESK_XMPP__TLS)"
    )


# --- ${VAR} substitution ----------------------------------------------------------------------


def test_variables_are_substituted_anywhere_in_a_string() -> None:
    data = with_value(
        minimal_data(), "database.url", "postgresql+asyncpg://${DB_USER}@${DB_HOST}/hd"
    )

    config = parse_config(data, {"DB_USER": "helpdesk", "DB_HOST": "db.local"})

    assert config.database.url == "postgresql+asyncpg://helpdesk@db.local/hd"


def test_substituted_text_is_read_as_the_key_type() -> None:
    data = with_value(full_data(), "xmpp.verify_tls", "${VERIFY}")
    data = with_value(data, "ldap.page_size", "${PAGE}")
    data = with_value(data, "web.public_url", "${PUBLIC_URL}")

    config = parse_config(data, {**SECRETS, "VERIFY": "false", "PAGE": "50", "PUBLIC_URL": ""})

    assert config.xmpp.verify_tls is False
    assert config.ldap is not None and config.ldap.page_size == 50
    assert config.web.public_url is None


def test_an_unset_variable_names_the_key_and_the_variable() -> None:
    message = config_error(full_data(), {})

    assert message == "xmpp.password: environment variable HELPDESK_XMPP_PASSWORD is not set"


def test_a_bad_substituted_value_names_the_variable() -> None:
    data = with_value(minimal_data(), "xmpp.verify_tls", "${VERIFY}")

    message = config_error(data, {"VERIFY": "maybe"})

    assert message == "xmpp.verify_tls: expected true or false, got 'maybe' (from ${VERIFY})"


# --- HELPDESK_<SECTION>__<KEY> overrides ------------------------------------------------------


def test_override_of_strings_and_secrets() -> None:
    environ = {
        "HELPDESK_XMPP__PASSWORD": "from-env",
        "HELPDESK_DATABASE__URL": "sqlite+aiosqlite:///other.db",
        "HELPDESK_EMAIL__FROM": "noreply@company.example",
    }

    config = parse_config(full_data(), {**SECRETS, **environ})

    assert config.xmpp.password.reveal() == "from-env"
    assert config.database.url == "sqlite+aiosqlite:///other.db"
    assert config.email is not None and config.email.from_ == "noreply@company.example"


def test_an_override_replaces_a_value_whose_variable_is_unset() -> None:
    data = with_value(minimal_data(), "xmpp.password", "${HELPDESK_XMPP_PASSWORD}")

    config = parse_config(data, {"HELPDESK_XMPP__PASSWORD": "from-env"})

    assert config.xmpp.password.reveal() == "from-env"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("false", False), ("FALSE", False), ("no", False), ("0", False), ("true", True),
     ("yes", True), ("1", True)],
)  # fmt: skip
def test_override_of_a_bool(text: str, expected: bool) -> None:
    config = parse_config(minimal_data(), {"HELPDESK_XMPP__VERIFY_TLS": text})

    assert config.xmpp.verify_tls is expected


def test_override_of_an_int_and_of_nested_keys() -> None:
    environ = {
        "HELPDESK_LDAP__PAGE_SIZE": "100",
        "HELPDESK_LDAP__ATTRIBUTES__LOGIN": "uid",
        "HELPDESK_ESCALATION__TAKE_WITHIN__URGENT": "5m",
        "HELPDESK_XMPP__ROOMS__SALES": "sales@conference.company.example",
    }

    config = parse_config(full_data(), {**SECRETS, **environ})

    assert config.ldap is not None
    assert config.ldap.page_size == 100
    assert config.ldap.attributes["login"] == "uid"
    assert config.ldap.attributes["email"] == "mail"
    assert config.escalation.take_within["urgent"] == timedelta(minutes=5)
    assert config.xmpp.rooms == {
        "it": "it@conference.company.example",
        "sales": "sales@conference.company.example",
    }


def test_override_of_a_top_level_key_and_case_insensitive_names() -> None:
    environ = {"HELPDESK_LANGUAGE": "en", "HELPDESK_xmpp__Tls": "direct"}

    config = parse_config(minimal_data(), environ)

    assert config.language == "en"
    assert config.xmpp.tls == "direct"


def test_override_can_create_a_section_and_leaves_the_input_alone() -> None:
    data = minimal_data()
    environ = {"HELPDESK_SMS__URL": "https://sms.example/send", "HELPDESK_SMS__TOKEN": PASSWORD}

    config = parse_config(data, environ)

    assert config.sms == SmsConfig(url="https://sms.example/send", token=Secret(PASSWORD))
    assert data == minimal_data()


def test_override_makes_the_whole_configuration_from_the_environment() -> None:
    environ = {"HELPDESK_XMPP__JID": "bot@localhost", "HELPDESK_XMPP__PASSWORD": PASSWORD}

    config = parse_config(None, environ)

    assert config.xmpp == XmppConfig(jid="bot@localhost", password=Secret(PASSWORD))


def test_variables_that_are_not_overrides_are_ignored() -> None:
    environ = {
        "HELPDESK_CONFIG": "/etc/helpdesk/bot.yaml",
        "HELPDESK_XMPP_PASSWORD": "for substitution",
        "HELPDESK_SOMETHING": "else",
        "PATH": "/usr/bin",
    }

    assert parse_config(minimal_data(), environ) == parse_config(minimal_data(), {})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "HELPDESK_XMPP__PASWORD",
            "x",
            "HELPDESK_XMPP__PASWORD: xmpp.pasword is not a configuration key",
        ),
        ("HELPDESK_NOPE__KEY", "x", "HELPDESK_NOPE__KEY: nope.key is not a configuration key"),
        (
            "HELPDESK_XMPP__ROOMS",
            "x",
            "HELPDESK_XMPP__ROOMS: xmpp.rooms is not a configuration key",
        ),
        (
            "HELPDESK_XMPP__TLS__MODE",
            "x",
            "HELPDESK_XMPP__TLS__MODE: xmpp.tls.mode is not a configuration key",
        ),
        (
            "HELPDESK_XMPP__VERIFY_TLS",
            "maybe",
            "xmpp.verify_tls: expected true or false, got 'maybe' (from HELPDESK_XMPP__VERIFY_TLS)",
        ),
        (
            "HELPDESK_LDAP__PAGE_SIZE",
            "lots",
            "ldap.page_size: expected an integer, got 'lots' (from HELPDESK_LDAP__PAGE_SIZE)",
        ),
        (
            "HELPDESK_LDAP__ATTRIBUTES__SHOE",
            "x",
            "ldap.attributes.shoe: unknown key, expected "
            "one of login, full_name, email, department, phone, disabled",
        ),
        ("HELPDESK_XMPP__PASSWORD", "", "xmpp.password: expected a non-empty string"),
    ],
)
def test_bad_overrides(name: str, value: str, message: str) -> None:
    assert config_error(full_data(), {**SECRETS, name: value}) == message


# --- files ------------------------------------------------------------------------------------


def test_config_path_precedence() -> None:
    environ = {"HELPDESK_CONFIG": "/etc/helpdesk/bot.yaml"}

    assert config_path("custom.yaml", environ) == Path("custom.yaml")
    assert config_path(None, environ) == Path("/etc/helpdesk/bot.yaml")
    assert config_path(None, {}) == Path("bot.yaml")
    assert config_path(None, {"HELPDESK_CONFIG": ""}) == Path("bot.yaml")


def test_load_config_reads_the_file_and_defaults_to_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text(FULL_YAML, encoding="utf-8")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HELPDESK_LANGUAGE", "ru")

    config = load_config(path)

    assert config.xmpp.password.reveal() == PASSWORD
    assert config.language == "ru"
    assert load_config(path, SECRETS).language == "en"


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    assert (
        str(caught.value) == f"{path}: cannot read the configuration file: No such file or "
        "directory"
    )


def test_a_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config(tmp_path, {})


def test_bad_yaml_gives_the_position_and_never_the_text(tmp_path: Path) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text(f"xmpp:\n  jid: a@b\n  password: {PASSWORD}: oops\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    message = str(caught.value)
    column = len("  password: ") + len(PASSWORD) + 1
    assert (
        message == f"{path}: invalid YAML at line 3, column {column}: mapping values are not "
        "allowed here"
    )
    assert PASSWORD not in message and "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bot.yaml"
    path.write_bytes("xmpp: {jid: помощь@localhost}".encode("cp1251"))

    with pytest.raises(ConfigError, match=r"is not UTF-8 text$"):
        load_config(path, {})


def test_the_example_bot_yaml_works_for_a_local_run() -> None:
    config = load_config(REPO / "bot.yaml", {"HELPDESK_XMPP_PASSWORD": "x"})

    assert config.xmpp.jid == "helpdesk@localhost"
    assert config.xmpp.password.reveal() == "x"
    assert config.xmpp.host_port() == ("127.0.0.1", 5222)
    assert config.database.url.startswith("sqlite+aiosqlite://")
    assert (config.ldap, config.sms, config.email) == (None, None, None)


def test_the_example_bot_yaml_optional_sections_work_once_uncommented() -> None:
    text = (REPO / "bot.yaml").read_text(encoding="utf-8")
    uncommented = re.sub(r"(?m)^# ( *[a-z_]+:(?: .*)?)$", r"\1", text)

    config = parse_config(yaml.safe_load(uncommented), SECRETS)

    assert config.ldap is not None and config.ldap.password.reveal() == PASSWORD + "-ldap"
    assert config.sms is not None and config.sms.token == Secret(PASSWORD + "-sms")
    assert config.email is not None and config.email.from_ == "helpdesk@company.example"
