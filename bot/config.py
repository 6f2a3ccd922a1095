"""Load and validate bot.yaml into typed settings, with ${VAR} substitution and overrides.

The dataclasses below are the schema: one generic walker reads any of them from YAML, driven by
the field types (str, bool, int, Secret, timedelta, Literal, optional, dict, tuple from a list,
nested dataclass) and by per-field metadata (the YAML key when it differs, a value check, a
closed set of keys).
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Union, cast, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

ENV_PREFIX = "HELPDESK_"
CONFIG_ENV = "HELPDESK_CONFIG"
DEFAULT_PATH = Path("bot.yaml")


class ConfigError(Exception):
    """One line naming the key and what was expected; str(e) is that line."""


class Secret:
    """A password or token: str() and repr() give '***', reveal() gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that needs it (a login, a request header)."""
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class _EnvText(str):
    """Text taken from the environment: never substituted again, may spell a bool or an int."""

    source: str

    def __new__(cls, value: str, source: str) -> _EnvText:
        text = super().__new__(cls, value)
        text.source = source
        return text


# --- value checks: each returns what was expected, or None when the value is fine ------------
_Check = Callable[[Any], str | None]


def _matches(pattern: str, what: str) -> _Check:
    regex = re.compile(pattern, re.IGNORECASE | re.DOTALL)
    return lambda value: None if regex.fullmatch(value) else what


def _split_address(text: str) -> tuple[str, int | None]:
    """'host', 'host:port' or '[v6]:port' as (host, port); ValueError when malformed."""
    host, port = text, None
    if ":" in text and not text.endswith("]"):
        host, _, digits = text.rpartition(":")
        port = int(digits) if digits.isascii() and digits.isdigit() else 0
        if not 0 < port < 65536:
            raise ValueError(text)
    host = host.removeprefix("[").removesuffix("]")
    if not host or any(c.isspace() or c in "/@[]" for c in host):
        raise ValueError(text)
    return host, port


def _address(port_required: bool) -> _Check:
    what = "host:port" if port_required else "host or host:port"

    def check(value: str) -> str | None:
        try:
            _, port = _split_address(value)
        except ValueError:
            return what
        return what if port_required and port is None else None

    return check


def _timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return "a time zone name like Europe/Moscow"
    return None


_LOCAL_AT_DOMAIN = _matches(r"[^@/\s]+@[^@/\s]+", "local@domain")
_HTTP_URL = _matches(r"https?://\S+", "an http:// or https:// URL")
_LDAP_URL = _matches(r"ldaps?://\S+", "an ldap:// or ldaps:// URL")
_DATABASE_URL = _matches(r"[a-z0-9+]+://\S*", "a URL like sqlite+aiosqlite:///helpdesk.db")
_LDAP_FILTER = _matches(r"\(.*\)", "an LDAP filter in parentheses")
_CRON = _matches(r"\s*\S+(\s+\S+){4}\s*", "a crontab line of 5 fields like '30 8 * * mon-fri'")
_QUIET_HOURS = _matches(
    r"([01]?\d|2[0-3]):[0-5]\d-([01]?\d|2[0-3]):[0-5]\d", "hours like 22:00-08:00"
)
_POSITIVE: _Check = lambda value: None if value > 0 else "a positive integer"  # noqa: E731
_MEDIA_TYPE = _matches(
    r"[a-z0-9][a-z0-9!#$&^_.+-]*/([a-z0-9][a-z0-9!#$&^_.+-]*|\*)",
    "a media type like image/jpeg or image/*",
)


def _meta(check: _Check | None = None, *, key: str = "", closed: bool = False) -> dict[str, Any]:
    """Field metadata: the YAML key when not the field name, a value check, closed dict keys."""
    return {"check": check, "key": key, "closed": closed}


# --- the schema -------------------------------------------------------------------------------
_LDAP_ATTRIBUTES = {"login": "sAMAccountName", "full_name": "displayName", "email": "mail",
                    "department": "department", "phone": "telephoneNumber",
                    "disabled": "userAccountControl"}  # fmt: skip
_SMS_FIELDS = {"to": "to", "text": "text", "sender": "from"}
_ACK_WITHIN = {"urgent": timedelta(minutes=5), "high": timedelta(minutes=15)}
_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf",
                  "text/plain")  # fmt: skip
_TAKE_WITHIN = {"urgent": timedelta(minutes=15), "high": timedelta(hours=1),
                "normal": timedelta(hours=4), "low": timedelta(days=1)}  # fmt: skip


@dataclass(frozen=True)
class XmppConfig:
    """The bot's XMPP account, how to reach its server, and the departments' rooms."""

    jid: str = field(metadata=_meta(_LOCAL_AT_DOMAIN))
    password: Secret
    server: str | None = field(default=None, metadata=_meta(_address(port_required=False)))
    tls: Literal["starttls", "direct", "none"] = "starttls"
    verify_tls: bool = True
    rooms: dict[str, str] = field(default_factory=dict, metadata=_meta(_LOCAL_AT_DOMAIN))

    def host_port(self) -> tuple[str, int] | None:
        """Where to connect, or None to look the JID's domain up in DNS."""
        if self.server is None:
            return None
        host, port = _split_address(self.server)
        if port is None:
            port = 5223 if self.tls == "direct" else 5222
        return host, port


@dataclass(frozen=True)
class DatabaseConfig:
    """The SQLAlchemy URL of the database."""

    url: str = field(default="sqlite+aiosqlite:///helpdesk.db", metadata=_meta(_DATABASE_URL))


@dataclass(frozen=True)
class LdapConfig:
    """The directory customers and staff are imported from."""

    url: str = field(metadata=_meta(_LDAP_URL))
    bind_dn: str
    password: Secret
    base_dn: str
    filter: str = field(
        default="(&(objectClass=user)(objectCategory=person))", metadata=_meta(_LDAP_FILTER)
    )
    page_size: int = field(default=500, metadata=_meta(_POSITIVE))
    attributes: dict[str, str] = field(
        default_factory=lambda: dict(_LDAP_ATTRIBUTES), metadata=_meta(closed=True)
    )
    staff_group: str | None = None
    # the department (short name) that staff-group members join on first contact
    staff_department: str | None = None


@dataclass(frozen=True)
class PhonebookConfig:
    """Header names of the phone book's columns, by our field name."""

    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebConfig:
    """The read-only web page."""

    listen: str = field(default="127.0.0.1:8080", metadata=_meta(_address(port_required=True)))
    public_url: str | None = field(default=None, metadata=_meta(_HTTP_URL))
    # a browser is signed out after this long without a request
    session_idle: timedelta = field(default=timedelta(minutes=30), metadata=_meta())
    # how long a `report` sign-in link may wait to be used (once)
    link_lifetime: timedelta = field(default=timedelta(minutes=10), metadata=_meta())
    # /sign-in: active staff may also sign in with their directory password (needs ldap:)
    ldap_login: bool = False

    def host_port(self) -> tuple[str, int]:
        host, port = _split_address(self.listen)
        assert port is not None  # the check above requires one
        return host, port


@dataclass(frozen=True)
class SmsConfig:
    """The SMS provider's HTTP API (docs/notifications.md shows each provider's keys)."""

    provider: Literal["generic", "smsru", "twilio"] = "generic"
    # generic: where to send; smsru and twilio: only to replace their public address
    url: str | None = field(default=None, metadata=_meta(_HTTP_URL))
    token: Secret | None = None  # generic: the token; smsru: api_id; twilio: auth token
    sender: str | None = None  # the sender name or number shown on the phone
    account: str | None = None  # twilio: the Account SID
    method: Literal["POST", "GET"] = "POST"  # generic
    format: Literal["json", "form"] = "json"  # generic: the request body
    token_header: str = "Authorization"  # generic: "Authorization" sends "Bearer <token>"
    fields: dict[str, str] = field(  # generic: the body's field names
        default_factory=lambda: dict(_SMS_FIELDS), metadata=_meta(closed=True)
    )
    timeout: timedelta = timedelta(seconds=15)


@dataclass(frozen=True, kw_only=True)
class EmailConfig:
    """The SMTP server notifications and digests are sent through."""

    smtp: str = field(metadata=_meta(_address(port_required=False)))
    starttls: bool = True
    tls: bool = False  # implicit TLS (port 465) instead of STARTTLS
    verify_tls: bool = True
    username: str | None = None
    password: Secret | None = None
    from_: str = field(metadata=_meta(_LOCAL_AT_DOMAIN, key="from"))
    timeout: timedelta = timedelta(seconds=30)

    def host_port(self) -> tuple[str, int]:
        host, port = _split_address(self.smtp)
        if port is None:
            port = 465 if self.tls else 587 if self.starttls else 25
        return host, port


@dataclass(frozen=True)
class NotificationsConfig:
    """Delivery: retries, quiet hours, the head's digest."""

    max_attempts: int = field(default=20, metadata=_meta(_POSITIVE))  # about 12 hours
    # non-urgent SMS wait for the end of quiet hours; each person may set their own
    quiet_hours: str | None = field(default="22:00-08:00", metadata=_meta(_QUIET_HOURS))
    digest: str = field(default="0 18 * * mon-fri", metadata=_meta(_CRON))


@dataclass(frozen=True)
class ScheduleConfig:
    """The time zone and the crontab lines of the scheduled jobs."""

    timezone: str = field(default="Europe/Moscow", metadata=_meta(_timezone))
    agenda: str = field(default="30 8 * * mon-fri", metadata=_meta(_CRON))
    ldap_sync: str = field(default="0 2 * * *", metadata=_meta(_CRON))


@dataclass(frozen=True)
class EscalationConfig:
    """How long a ticket of each priority may wait to be taken before it is escalated."""

    take_within: dict[str, timedelta] = field(
        default_factory=lambda: dict(_TAKE_WITHIN), metadata=_meta(closed=True)
    )
    # an urgent or high assignment neither displayed nor taken within this goes out by
    # SMS; as long again without either, to the head
    ack_within: dict[str, timedelta] = field(
        default_factory=lambda: dict(_ACK_WITHIN), metadata=_meta(closed=True)
    )


@dataclass(frozen=True)
class AttachmentsConfig:
    """Files staff send through their server's HTTP upload (XEP-0363), attached to tickets."""

    folder: str = "data/attachments"  # relative to the working directory
    max_bytes: int = field(default=10 * 1024 * 1024, metadata=_meta(_POSITIVE))
    content_types: tuple[str, ...] = field(default=_CONTENT_TYPES, metadata=_meta(_MEDIA_TYPE))
    # the only hosts files are downloaded from; empty: the bot's XMPP domain, its
    # subdomains and xmpp.server's host (docs/configuration.md: the SSRF consideration)
    hosts: tuple[str, ...] = field(default=(), metadata=_meta(_address(port_required=False)))
    timeout: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class Config:
    """The whole of bot.yaml."""

    xmpp: XmppConfig
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    ldap: LdapConfig | None = None
    phonebook: PhonebookConfig = field(default_factory=PhonebookConfig)
    web: WebConfig = field(default_factory=WebConfig)
    sms: SmsConfig | None = None
    email: EmailConfig | None = None
    notifications: NotificationsConfig = field(default_factory=NotificationsConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    escalation: EscalationConfig = field(default_factory=EscalationConfig)
    attachments: AttachmentsConfig = field(default_factory=AttachmentsConfig)
    language: Literal["en", "ru"] = "ru"


# --- reading scalars --------------------------------------------------------------------------
_BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_UNITS = ("days", "hours", "minutes", "seconds")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _shown(value: object) -> str:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(str(value) if isinstance(value, str) else value)


def _expected(key: str, what: str, value: object) -> ConfigError:
    source = f" (from {value.source})" if isinstance(value, _EnvText) else ""
    return ConfigError(f"{key}: expected {what}, got {_shown(value)}{source}")


def _as_str(raw: object, key: str) -> str:
    if isinstance(raw, str) and raw:
        return str(raw)
    raise _expected(key, "a non-empty string", raw)


def _as_secret(raw: object, key: str) -> Secret:
    if isinstance(raw, str) and raw:
        return Secret(str(raw))
    raise ConfigError(f"{key}: expected a non-empty string")  # never echo what was given


def _as_bool(raw: object, key: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, _EnvText) and raw.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[raw.strip().lower()]
    raise _expected(key, "true or false", raw)


def _as_int(raw: object, key: str) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, _EnvText):
        with suppress(ValueError):
            return int(raw)
    raise _expected(key, "an integer", raw)


def _as_duration(raw: object, key: str) -> timedelta:
    match = _DURATION.fullmatch(raw.strip()) if isinstance(raw, str) else None
    if match is not None:
        parts = zip(_DURATION_UNITS, match.groups(), strict=True)
        duration = timedelta(**{unit: int(n) for unit, n in parts if n})
        if duration:
            return duration
    raise _expected(key, "a duration like 90s, 15m, 1h, 2h30m or 1d", raw)


_SCALARS: dict[object, Callable[[object, str], object]] = {
    str: _as_str, Secret: _as_secret, bool: _as_bool, int: _as_int, timedelta: _as_duration
}  # fmt: skip


def _substitute(text: str, key: str, environ: Mapping[str, str]) -> str:
    """Replace each ${VAR} in text by its value from environ."""
    names = _VARIABLE.findall(text)
    if not names:
        return text
    for name in names:
        if name not in environ:
            raise ConfigError(f"{key}: environment variable {name} is not set")
    value = _VARIABLE.sub(lambda m: environ[m.group(1)], text)
    return _EnvText(value, ", ".join(f"${{{name}}}" for name in names))


# --- the schema walker ------------------------------------------------------------------------
def _specs(cls: Any) -> dict[str, tuple[Field[Any], Any]]:
    """A dataclass's fields by YAML key, each with its resolved type."""
    hints = get_type_hints(cls)
    return {f.metadata.get("key") or f.name: (f, hints[f.name]) for f in fields(cls)}


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (Union, types.UnionType):
        return next(a for a in get_args(tp) if a is not type(None)), True
    return tp, False


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _build(cls: Any, raw: object, path: str, environ: Mapping[str, str]) -> Any:
    """Read a dataclass from a mapping: unknown keys refused, defaults for what is absent."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _expected(path or "the configuration", "a mapping of keys", raw)
    specs = _specs(cls)
    for key in raw:
        if key not in specs:
            raise ConfigError(f"{_join(path, key)}: unknown key")
    values: dict[str, Any] = {}
    for key, (spec, tp) in specs.items():
        if key in raw:
            values[spec.name] = _field_value(spec, tp, raw[key], _join(path, key), environ)
        elif is_dataclass(tp):
            values[spec.name] = _build(tp, {}, _join(path, key), environ)
        elif spec.default is MISSING and spec.default_factory is MISSING:
            raise ConfigError(f"{_join(path, key)}: required key is missing")
    return cls(**values)


def _coerce(tp: Any, raw: object, key: str, environ: Mapping[str, str]) -> Any:
    """Read one value of type tp; an empty or null value of an optional key means None."""
    if isinstance(raw, str) and not isinstance(raw, _EnvText):
        raw = _substitute(raw, key, environ)
    tp, optional = _unwrap_optional(tp)
    if optional and (raw is None or raw == ""):
        return None
    if is_dataclass(tp):
        return _build(tp, raw, key, environ)
    if get_origin(tp) is Literal:
        if isinstance(raw, str) and raw in get_args(tp):
            return str(raw)
        raise _expected(key, "one of " + ", ".join(get_args(tp)), raw)
    if get_origin(tp) is dict:
        if not isinstance(raw, dict):
            raise _expected(key, "a mapping", raw)
        value_type = get_args(tp)[1]
        return {str(k): _coerce(value_type, v, _join(key, k), environ) for k, v in raw.items()}
    if get_origin(tp) is tuple:
        return _as_tuple(get_args(tp)[0], raw, key, environ)
    return _SCALARS[tp](raw, key)


def _as_tuple(item: Any, raw: object, key: str, environ: Mapping[str, str]) -> tuple[Any, ...]:
    """A YAML list, or comma-separated text from the environment."""
    if isinstance(raw, _EnvText):
        raw = [_EnvText(part.strip(), raw.source) for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list):
        raise _expected(key, "a list", raw)
    return tuple(_coerce(item, value, key, environ) for value in raw)


def _field_value(spec: Field[Any], tp: Any, raw: object, key: str, env: Mapping[str, str]) -> Any:
    """Read a field's value, check it, and lay a mapping over the field's default mapping."""
    value = _coerce(tp, raw, key, env)
    check: _Check | None = spec.metadata.get("check")
    if isinstance(value, tuple):
        for item in value:
            if check is not None and (problem := check(item)):
                raise _expected(key, problem, item)
        return value
    if not isinstance(value, dict):
        if check is not None and value is not None and (problem := check(value)):
            raise _expected(key, problem, value)
        return value
    defaults = spec.default_factory() if spec.default_factory is not MISSING else {}
    for name, item in value.items():
        if spec.metadata.get("closed") and name not in defaults:
            raise ConfigError(f"{key}.{name}: unknown key, expected one of {', '.join(defaults)}")
        if check is not None and (problem := check(item)):
            raise _expected(f"{key}.{name}", problem, item)
    return {**defaults, **value}


# --- HELPDESK_<SECTION>__<KEY> overrides ------------------------------------------------------
def _override_type(path: list[str]) -> Any:
    """The type of the scalar key an override path names, or None when it names none."""
    tp: Any = Config
    for part in path:
        tp, _ = _unwrap_optional(tp)
        if is_dataclass(tp) and part in _specs(tp):
            tp = _specs(tp)[part][1]
        elif get_origin(tp) is dict and part:
            tp = get_args(tp)[1]
        else:
            return None
    tp, _ = _unwrap_optional(tp)
    return None if is_dataclass(tp) or get_origin(tp) is dict else tp


def _override_path(name: str) -> list[str] | None:
    """The key path a variable overrides; None for variables that are not overrides."""
    if not name.upper().startswith(ENV_PREFIX) or name.upper() == CONFIG_ENV:
        return None
    path = name[len(ENV_PREFIX) :].lower().split("__")
    if _override_type(path) is None:
        if len(path) == 1:  # HELPDESK_XMPP_PASSWORD and the like: for ${...} substitution
            return None
        raise ConfigError(f"{name}: {'.'.join(path)} is not a configuration key")
    return path


def _with_value(data: object, path: list[str], value: object) -> object:
    """A copy of data with value at path, creating the mappings on the way."""
    node = {} if data is None else data
    if not isinstance(node, dict):
        return node  # the walker will refuse this non-mapping with its own message
    head, *rest = path
    copy = dict(node)
    copy[head] = _with_value(copy.get(head), rest, value) if rest else value
    return copy


def _apply_overrides(data: object, environ: Mapping[str, str]) -> object:
    for name in sorted(environ):
        path = _override_path(name)
        if path is not None:
            data = _with_value(data, path, _EnvText(environ[name], name))
    return data


# --- public entry points ----------------------------------------------------------------------
_SMS_NEEDS = {"generic": ("url",), "smsru": ("token",), "twilio": ("account", "token", "sender")}


def _check_together(config: Config) -> Config:
    """What one key cannot say alone: the keys an SMS provider needs, the directory a
    password sign-in asks."""
    if config.web.ldap_login and config.ldap is None:
        raise ConfigError("web.ldap_login: needs the ldap: section (the directory to ask)")
    if config.sms is not None:
        for key in _SMS_NEEDS[config.sms.provider]:
            if not getattr(config.sms, key):
                raise ConfigError(f"sms.{key}: required for the {config.sms.provider} provider")
    return config


def parse_config(data: object, environ: Mapping[str, str]) -> Config:
    """Validate an already-loaded YAML value, after applying environ's overrides."""
    return _check_together(
        cast(Config, _build(Config, _apply_overrides(data, environ), "", environ))
    )


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the configuration file is not UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        # Only the problem and its position: the YAML snippet could hold a password.
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {exc.problem or 'syntax error'}") from None
    except yaml.YAMLError:
        raise ConfigError(f"{path}: invalid YAML") from None


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the configuration file; environ defaults to os.environ."""
    return parse_config(_read_yaml(path), os.environ if environ is None else environ)


def config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """Where the configuration is: --config, then $HELPDESK_CONFIG, then ./bot.yaml."""
    if cli_value:
        return Path(cli_value)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return DEFAULT_PATH
