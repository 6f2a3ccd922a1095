"""Throw-away server processes on loopback (Prosody for the demo and the tests, slapd
for the tests): free ports, a clean stop, and nothing left running when Python exits."""

from __future__ import annotations

import atexit
import signal
import socket
import subprocess
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Self

# Servers still running when the interpreter exits (a test run that crashed) are
# killed by _stop_leftovers, so no server outlives the Python that started it.
_RUNNING: set[subprocess.Popen[bytes]] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int) -> list[str]:
    """The last lines of a log file, or none when it does not exist."""
    if not path.exists():
        return []
    return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]


class ServerProcess(ABC):
    """One server process: `track` it when spawned, `stop` it by SIGTERM (SIGKILL if
    it lingers); `with` starts and stops it. Subclasses define `start`."""

    _process: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def start(self) -> None:
        """Start the server and return once it answers."""

    def track(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        _RUNNING.add(process)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the server, SIGKILL it if it lingers; does nothing when not running."""
        process, self._process = self._process, None
        if process is None:
            return
        _RUNNING.discard(process)
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@atexit.register
def _stop_leftovers() -> None:
    for process in list(_RUNNING):
        process.kill()
        process.wait()


def self_signed_certificate(certificate: Path, key: Path, name: str, alt_names: str) -> None:
    """A throw-away certificate for a test server (openssl), made once per path;
    `alt_names` like "DNS:localhost,IP:127.0.0.1"."""
    if certificate.exists() and key.exists():
        return
    certificate.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3",
         "-keyout", str(key), "-out", str(certificate), "-subj", f"/CN={name}",
         "-addext", f"subjectAltName={alt_names}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
