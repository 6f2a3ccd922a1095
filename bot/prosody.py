"""A throw-away Prosody server on loopback, for tests, the demo and benchmarks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.servers import ServerProcess, free_port, port_accepts, self_signed_certificate, tail

APT_COMMAND = "apt-get install -y prosody lua-dbi-sqlite3"
CONFIG_NAME = "prosody.cfg.lua"
LOG_NAME = "prosody.log"
CONSOLE_NAME = "prosody.console.log"
_POLL_SECONDS = 0.01
_BIND_ATTEMPTS = 3
_PORT_FAILURE = re.compile(r"Failed to open server port (\d+)")

# Modest on purpose: what the helpdesk and its tests use, nothing more.
# c2s, presence, message, iq and offline are loaded by Prosody itself.
# "mam" (XEP-0313 archives) is added unless the server is made with mam=False.
# No "tls": without a certificate Prosody 0.12 still offers STARTTLS, every
# handshake then fails ("no shared cipher") and slixmpp clients hang.
_MODULES = (
    "roster",
    "saslauth",
    "disco",
    "ping",
    "offline",
    "presence",
    "version",
    "carbons",
    "posix",
)


class ProsodyNotInstalled(RuntimeError):
    """The `prosody` or `prosodyctl` program is not on PATH."""


class ProsodyFailed(RuntimeError):
    """Prosody died, did not listen in time, or a `prosodyctl` call failed."""


class _PortTaken(Exception):
    """Prosody could not bind one of its ports."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.port = port


def _is_installed() -> bool:
    return shutil.which("prosody") is not None and shutil.which("prosodyctl") is not None


def ensure_prosody_installed(install: bool) -> None:
    """Install Prosody with apt when asked and allowed, else raise if it is missing."""
    if _is_installed():
        return
    if not install or os.geteuid() != 0:
        raise ProsodyNotInstalled(f"Prosody is not installed: run `{APT_COMMAND}` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(APT_COMMAND.split(), env=env, check=False).returncode != 0:
        # A fresh machine may not have package lists yet.
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(APT_COMMAND.split(), env=env, check=True)
    if not _is_installed():
        raise ProsodyNotInstalled(f"`{APT_COMMAND}` ran but `prosody` is still not on PATH")


def _lua_string(value: str | Path) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _lua_list(values: tuple[str, ...]) -> str:
    return "{ " + "; ".join(_lua_string(v) for v in values) + " }"


@dataclass
class ProsodyServer(ServerProcess):
    """One Prosody process whose config, data, log and pidfile live in `workdir`.

    Ports left at 0 are picked when the object is made and then kept, so a
    restart on the same workdir listens where clients expect it.
    """

    workdir: Path
    domain: str = "localhost"
    host: str = "127.0.0.1"
    c2s_port: int = 0
    http_port: int = 0
    muc: bool = True
    upload: bool = False
    tls: bool = False  # a self-signed certificate, STARTTLS required, a direct-TLS port
    tls_port: int = 0
    mam: bool = True  # XEP-0313 archives (mod_mam); off to test a server without them
    _process: subprocess.Popen[bytes] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _auto_ports: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        for name in ("c2s_port", "http_port", "tls_port"):
            if getattr(self, name) == 0:
                self._auto_ports.add(name)
                setattr(self, name, free_port())

    def _repick_port(self, taken: int) -> bool:
        """Give a new free port to the auto-picked port `taken`; False if it was chosen."""
        for name in self._auto_ports:
            if getattr(self, name) == taken:
                setattr(self, name, free_port())
                return True
        return False

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect: (host, c2s port)."""
        return (self.host, self.c2s_port)

    @property
    def config_path(self) -> Path:
        return self.workdir / CONFIG_NAME

    @property
    def log_path(self) -> Path:
        return self.workdir / LOG_NAME

    @property
    def muc_domain(self) -> str:
        return f"conference.{self.domain}"

    @property
    def upload_domain(self) -> str:
        return f"upload.{self.domain}"

    @property
    def pid(self) -> int | None:
        """The server's PID while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def write_config(self) -> Path:
        """Write prosody.cfg.lua (and the folders it names) into `workdir`."""
        for folder in ("data", "certs"):
            (self.workdir / folder).mkdir(parents=True, exist_ok=True)
        text = self._global_section() + self._host_sections()
        if self.tls:
            text = self._with_tls(text)
        self.config_path.write_text(text, encoding="utf-8")
        return self.config_path

    def _global_section(self) -> str:
        work = self.workdir
        return f"""-- Written by bot/prosody.py: a loopback-only server for tests and the demo.
run_as_root = true
pidfile = {_lua_string(work / "prosody.pid")}
data_path = {_lua_string(work / "data")}
certificates = {_lua_string(work / "certs")}
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = {_lua_string(self.log_path)} }} }}
interfaces = {{ {_lua_string(self.host)} }}
c2s_ports = {{ {self.c2s_port} }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
s2s_ports = {{ }}
http_ports = {{ {self.http_port} }}
http_interfaces = {{ {_lua_string(self.host)} }}
https_ports = {{ }}
-- Plaintext is acceptable only because every port is bound to loopback.
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
allow_registration = false
modules_enabled = {_lua_list(self._modules())}
modules_disabled = {{ "s2s"; "s2s_auth_certs"; "register"; "tls" }}

VirtualHost {_lua_string(self.domain)}
"""

    def _modules(self) -> tuple[str, ...]:
        return (*_MODULES, "mam") if self.mam else _MODULES

    @property
    def certificate(self) -> Path:
        return self.workdir / "certs" / f"{self.domain}.crt"

    def _make_certificate(self) -> None:
        key = self.certificate.with_suffix(".key")
        self_signed_certificate(self.certificate, key, self.domain, f"DNS:{self.domain}")

    def _with_tls(self, text: str) -> str:
        """Encryption required: STARTTLS on the c2s port, TLS from the start on tls_port."""
        self._make_certificate()
        key = self.certificate.with_suffix(".key")
        ssl = f"ssl = {{ certificate = {_lua_string(self.certificate)}; key = {_lua_string(key)} }}"
        text = text.replace(
            "c2s_direct_tls_ports = { }", f"c2s_direct_tls_ports = {{ {self.tls_port} }}"
        )
        text = text.replace("c2s_require_encryption = false", "c2s_require_encryption = true")
        text = text.replace(
            "allow_unencrypted_plain_auth = true", "allow_unencrypted_plain_auth = false"
        )
        text = text.replace('"register"; "tls" }', '"register" }').replace(
            "modules_enabled = {", 'modules_enabled = { "tls";'
        )
        return text.replace("\nVirtualHost", f"\n{ssl}\n\nVirtualHost", 1)

    def _host_sections(self) -> str:
        text = ""
        if self.muc:
            text += f"""
Component {_lua_string(self.muc_domain)} "muc"
    muc_room_locking = false
    muc_room_default_public_jids = true
"""
        if self.upload:
            url = f"http://{self.host}:{self.http_port}/"
            text += f"""
Component {_lua_string(self.upload_domain)} "http_file_share"
    http_host = {_lua_string(self.host)}
    http_external_url = {_lua_string(url)}
    http_file_share_size_limit = 16 * 1024 * 1024
    http_file_share_daily_quota = 1024 * 1024 * 1024
"""
        return text

    def start(self, timeout: float = 10.0) -> None:
        """Run `prosody -F` and return once it listens; raise ProsodyFailed if it cannot."""
        if self.running:
            return
        if not _is_installed():
            raise ProsodyNotInstalled(f"Prosody is not installed: run `{APT_COMMAND}` as root")
        for attempt in range(1, _BIND_ATTEMPTS + 1):
            self.write_config()
            log_offset = self._log_size()
            self._spawn()
            try:
                self._wait_ready(log_offset, time.monotonic() + timeout)
                return
            except _PortTaken as taken:
                self.stop()
                # A port picked by free_port() can be taken by someone else in between.
                if attempt == _BIND_ATTEMPTS or not self._repick_port(taken.port):
                    reason = f"port {taken.port} is already in use"
                    raise ProsodyFailed(self._failure(reason)) from None
            except ProsodyFailed:
                self.stop()
                raise

    def _spawn(self) -> None:
        console = (self.workdir / CONSOLE_NAME).open("ab")
        try:
            process = subprocess.Popen(
                ["prosody", "-F", "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        finally:
            console.close()
        self.track(process)

    def _wait_ready(self, log_offset: int, deadline: float) -> None:
        expected = self._expected_services()
        while True:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else self._process.returncode
                raise ProsodyFailed(self._failure(f"prosody exited with code {code}"))
            log = self._log_since(log_offset)
            if failed := _PORT_FAILURE.search(log):
                raise _PortTaken(int(failed.group(1)))
            if all(line in log for line in expected) and port_accepts(*self.address):
                return
            if time.monotonic() > deadline:
                raise ProsodyFailed(self._failure("prosody did not start listening in time"))
            time.sleep(_POLL_SECONDS)

    def _expected_services(self) -> list[str]:
        # Prosody logs this once the listening socket is bound; checking it (not
        # only the port) guards against another process owning the port.
        lines = [f"Activated service 'c2s' on [{self.host}]:{self.c2s_port}"]
        if self.upload:
            lines.append(f"Activated service 'http' on [{self.host}]:{self.http_port}")
        if self.tls:
            lines.append(f"Activated service 'c2s_direct_tls' on [{self.host}]:{self.tls_port}")
        return lines

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of Prosody's log and console output, for error messages."""
        return "\n".join(tail(self.log_path, lines) + tail(self.workdir / CONSOLE_NAME, lines))

    def _failure(self, reason: str) -> str:
        return f"{reason} (config {self.config_path}); log tail:\n{self.log_tail()}"

    def register(self, user: str, password: str) -> str:
        """Create an account with prosodyctl and return its bare JID."""
        if not user.strip():
            # prosodyctl "registers" an empty name (a file `.dat`) and exits 0.
            raise ValueError("an account needs a non-empty user name")
        if not self.config_path.exists():
            self.write_config()
        command = ["prosodyctl", "--config", str(self.config_path), "register"]
        result = subprocess.run(
            [*command, user, self.domain, password],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise ProsodyFailed(f"prosodyctl register {user}@{self.domain} failed: {output}")
        return f"{user}@{self.domain}"
