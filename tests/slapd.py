"""A throw-away OpenLDAP slapd on loopback with an AD-like schema, for the LDAP importer's
tests and benchmarks: `with SlapdServer(workdir) as server: server.add(ldif)`."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import LdapConfig, Secret
from bot.servers import ServerProcess, free_port, port_accepts, tail

APT_COMMAND = "apt-get install -y slapd ldap-utils"
_PROGRAMS = ("slapd", "slapadd", "ldapadd", "ldapmodify", "ldapdelete", "ldapwhoami")
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")
_SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
# AD's own limits are 1,000 a page; OpenLDAP's default is 500. Without `size.prtotal` even
# a paged search would stop at the hard limit; with it only a plain search does, as in AD.
DEFAULT_SIZE_LIMIT = "size.soft=500 size.hard=500 size.prtotal=unlimited"
_POLL_SECONDS = 0.01
_BIND_ATTEMPTS = 3

# The few AD attributes the importer reads, with Microsoft's OIDs and the equality rules
# Debian's msuser.schema lacks (without them a filter on the attribute matches nothing).
# AD's `user` is structural; here it is an auxiliary class next to inetOrgPerson, and
# objectCategory is a plain string so AD's default filter
# `(&(objectClass=user)(objectCategory=person))` works unchanged.
AD_LIKE_SCHEMA = """\
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.141 NAME 'department'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
    EQUALITY integerMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.782 NAME 'objectCategory'
    EQUALITY caseIgnoreMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP top AUXILIARY
    MAY ( sAMAccountName $ userPrincipalName $ department $ userAccountControl $
          objectCategory ) )
"""


class SlapdNotInstalled(RuntimeError):
    """slapd or the ldap-utils clients are not installed."""


class SlapdFailed(RuntimeError):
    """slapd died, did not answer in time, or a loading tool failed."""


def find_program(name: str) -> str | None:
    """The program's path; sbin folders count even when they are not on PATH."""
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN))


def ensure_slapd_installed() -> None:
    missing = [name for name in _PROGRAMS if find_program(name) is None]
    if missing:
        raise SlapdNotInstalled(f"{', '.join(missing)} not found: run `{APT_COMMAND}` as root")


def _value_line(name: str, value: str) -> str:
    # LDIF wants base64 for anything beyond plain ASCII (Cyrillic names) or with edge spaces
    plain = value.isascii() and value == value.strip() and not value.startswith((":", "<"))
    if plain and "\n" not in value:
        return f"{name}: {value}"
    return f"{name}:: {base64.b64encode(value.encode()).decode()}"


def ldif_entry(dn: str, attributes: Mapping[str, str | int | Sequence[str]]) -> str:
    """One LDIF record; list values become repeated lines, empty ones are left out."""
    lines = [_value_line("dn", dn)]
    for name, values in attributes.items():
        items = [str(values)] if isinstance(values, str | int) else list(values)
        lines.extend(_value_line(name, v) for v in items if v != "")
    return "\n".join(lines) + "\n"


@dataclass
class SlapdServer(ServerProcess):
    """One slapd whose config, database, pidfile and log live in `workdir`.

    The tree: `suffix`, ou=People, ou=Groups, ou=Service with the read-only service
    account `service_dn` (not the rootdn: the rootdn ignores every size limit).
    """

    workdir: Path
    suffix: str = "dc=example,dc=test"
    host: str = "127.0.0.1"
    port: int = 0
    size_limit: str = DEFAULT_SIZE_LIMIT
    tls: bool = False  # a self-signed certificate: StartTLS on `port`, ldaps on `tls_port`
    tls_port: int = 0
    root_password: str = "root-secret"
    service_password: str = "service-secret"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _auto_ports: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        self._auto_ports = not self.port and not self.tls_port
        self.port = self.port or free_port()
        self.tls_port = self.tls_port or (free_port() if self.tls else 0)

    # --- names ------------------------------------------------------------------------------
    @property
    def root_dn(self) -> str:
        return f"cn=admin,{self.suffix}"

    @property
    def service_dn(self) -> str:
        return f"cn=helpdesk,ou=Service,{self.suffix}"

    @property
    def people_dn(self) -> str:
        return f"ou=People,{self.suffix}"

    @property
    def groups_dn(self) -> str:
        return f"ou=Groups,{self.suffix}"

    @property
    def url(self) -> str:
        return f"ldap://{self.host}:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.host}:{self.tls_port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "slapd.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "slapd.log"

    @property
    def certificate(self) -> Path:
        return self.workdir / "server.crt"

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def ldap_config(self, **overrides: object) -> LdapConfig:
        """The `ldap:` section an installation would have, bound as the service account."""
        values: dict[str, object] = {
            "url": self.url, "bind_dn": self.service_dn,
            "password": Secret(self.service_password), "base_dn": self.people_dn,
            "staff_group": f"cn=Helpdesk,{self.groups_dn}",
        }  # fmt: skip
        values.update(overrides)
        return LdapConfig(**values)  # type: ignore[arg-type]

    # --- configuration ----------------------------------------------------------------------
    def write_config(self) -> Path:
        (self.workdir / "db").mkdir(parents=True, exist_ok=True)
        schema = self.workdir / "ad-like.schema"
        schema.write_text(AD_LIKE_SCHEMA, encoding="utf-8")
        includes = [f"include /etc/ldap/schema/{name}.schema" for name in _SCHEMAS]
        text = "\n".join([
            "# Written by tests/slapd.py: a loopback-only directory for tests.",
            *includes, f'include "{schema}"',
            f'pidfile "{self.workdir / "slapd.pid"}"',
            f'argsfile "{self.workdir / "slapd.args"}"',
            "modulepath /usr/lib/ldap", "moduleload back_mdb", "moduleload memberof",
            f"sizelimit {self.size_limit}", *self._tls_lines(),
            "database mdb", f'suffix "{self.suffix}"', f'rootdn "{self.root_dn}"',
            f"rootpw {self.root_password}", f'directory "{self.workdir / "db"}"',
            "maxsize 1073741824", "dbnosync", "index objectClass eq",
            "overlay memberof",
            # the service account reads, nobody writes but the rootdn
            "access to attrs=userPassword by anonymous auth by * none",
            'access to dn.base="" by * read',
            "access to * by users read by * none", "",
        ])  # fmt: skip
        self.config_path.write_text(text, encoding="utf-8")
        return self.config_path

    def _tls_lines(self) -> list[str]:
        if not self.tls:
            return []
        key = self.certificate.with_suffix(".key")
        if not (self.certificate.exists() and key.exists()):
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3",
                 "-keyout", str(key), "-out", str(self.certificate), "-subj", f"/CN={self.host}",
                 "-addext", f"subjectAltName=IP:{self.host},DNS:localhost"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
        return [f'TLSCertificateFile "{self.certificate}"', f'TLSCertificateKeyFile "{key}"']

    def base_ldif(self) -> str:
        """The suffix, the three OUs and the service account."""
        top = self.suffix.split(",")[0].split("=", 1)[1]
        entries = [ldif_entry(self.suffix, {"objectClass": ["top", "dcObject", "organization"],
                                            "dc": top, "o": "Example"})]  # fmt: skip
        for ou in ("People", "Groups", "Service"):
            entries.append(ldif_entry(f"ou={ou},{self.suffix}",
                                      {"objectClass": "organizationalUnit", "ou": ou}))  # fmt: skip
        service = {"objectClass": ["person"], "cn": "helpdesk", "sn": "helpdesk",
                   "userPassword": self.service_password}  # fmt: skip
        entries.append(ldif_entry(self.service_dn, service))
        return "\n".join(entries)

    # --- running ----------------------------------------------------------------------------
    def start(self, preload: str = "", timeout: float = 10.0) -> None:
        """Start slapd and return once it answers a bind. A fresh database first gets the
        base tree and `preload` (LDIF) by slapadd, which is fast but runs no overlay:
        groups must come later, over LDAP, for memberOf to be filled."""
        if self.pid is not None:
            return
        ensure_slapd_installed()
        self.write_config()
        if not any((self.workdir / "db").iterdir()):
            self._slapadd(self.base_ldif() + "\n" + preload)
        for attempt in range(1, _BIND_ATTEMPTS + 1):
            self._spawn()
            try:
                self._wait_ready(time.monotonic() + timeout)
                return
            except SlapdFailed:
                self.stop()
                # a port picked by free_port() can be taken by someone else in between
                # (slapd -d 0 exits with 1 and says nothing): pick others and try again
                if attempt == _BIND_ATTEMPTS or not (self._auto_ports and self._ports_taken()):
                    raise
                self.port, self.tls_port = free_port(), (free_port() if self.tls else 0)

    def _ports_taken(self) -> bool:
        ports = [self.port] + ([self.tls_port] if self.tls else [])
        return any(port_accepts(self.host, port) for port in ports)

    def _listen(self) -> str:
        urls = [f"{self.url}/"] + ([f"{self.ldaps_url}/"] if self.tls else [])
        return " ".join(urls)

    def _spawn(self) -> None:
        (self.workdir / "slapd.pid").unlink(missing_ok=True)
        command = [find_program("slapd") or "slapd", "-d", "0", "-f", str(self.config_path),
                   "-h", self._listen()]  # fmt: skip
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.workdir, start_new_session=True,
            )  # fmt: skip
        self.track(process)

    def _wait_ready(self, deadline: float) -> None:
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise SlapdFailed(self._failure(f"slapd exited with code {code}"))
            if self._answers():
                return
            if time.monotonic() > deadline:
                raise SlapdFailed(self._failure("slapd did not answer in time"))
            time.sleep(_POLL_SECONDS)

    def _answers(self) -> bool:
        # slapd writes its pidfile once its ports are bound: a port that answers while the
        # pidfile is missing or names another process belongs to someone else
        pidfile = self.workdir / "slapd.pid"
        ours = self._process is not None and pidfile.exists() and (
            pidfile.read_text().strip() == str(self._process.pid))  # fmt: skip
        if not ours or not port_accepts(self.host, self.port):
            return False
        return self._tool("ldapwhoami", [], check=False).returncode == 0  # binds and answers

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(tail(self.log_path, lines))

    def _failure(self, reason: str) -> str:
        tail = self.log_tail() or "(empty: slapd -d 0 says nothing when a port is taken)"
        return f"{reason}, listening on {self._listen()} (config {self.config_path}); log:\n{tail}"

    # --- loading and changing entries ------------------------------------------------------
    def _slapadd(self, ldif: str) -> None:
        path = self.workdir / "preload.ldif"
        path.write_text(ldif, encoding="utf-8")
        command = [find_program("slapadd") or "slapadd", "-q", "-f", str(self.config_path),
                   "-l", str(path)]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if result.returncode != 0:
            raise SlapdFailed(f"slapadd failed: {(result.stdout + result.stderr).strip()}")

    def _tool(
        self, name: str, args: list[str], stdin: str = "", *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        is_whoami = name == "ldapwhoami"
        who, password = (
            (self.service_dn, self.service_password) if is_whoami
            else (self.root_dn, self.root_password)
        )  # fmt: skip
        command = [find_program(name) or name, "-x", "-H", self.url, "-D", who, "-w", password,
                   *args]  # fmt: skip
        result = subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=300, check=False
        )
        if check and result.returncode != 0:
            raise SlapdFailed(f"{name} failed: {(result.stdout + result.stderr).strip()}")
        return result

    def add(self, ldif: str | Iterable[str]) -> None:
        """Add entries over LDAP as the rootdn (overlays run: memberOf is filled)."""
        text = ldif if isinstance(ldif, str) else "\n".join(ldif)
        self._tool("ldapadd", [], text)

    def modify(self, ldif: str) -> None:
        """Apply an LDIF of changes (`changetype: modify` records and the like)."""
        self._tool("ldapmodify", [], ldif)

    def replace(self, dn: str, attribute: str, *values: str) -> None:
        change = ldif_entry(dn, {"changetype": "modify", "replace": attribute, attribute: values})
        self.modify(change + "-\n")

    def delete(self, *dns: str) -> None:
        self._tool("ldapdelete", [], "\n".join(dns) + "\n")
