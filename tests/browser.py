"""Headless Chromium for the web page's end-to-end tests: Debian's `chromium` driven by
Playwright's async API (no browser download), and full-page screenshots kept per run."""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Page, Playwright

APT_COMMAND = "apt-get install -y chromium"
PIP_COMMAND = ".venv/bin/pip install -e '.[dev]'"
CHROMIUM_ENV = "HELPDESK_CHROMIUM"
ARTIFACTS_ENV = "HELPDESK_ARTIFACTS"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Playwright passes --no-sandbox (Chromium's sandbox refuses root, and CI is root) and
# --disable-dev-shm-usage itself today; said here so the harness does not rest on its defaults.
# No machine here has a GPU.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu")
# one artifact folder per test run, made by the first screenshot
_artifacts: Path | None = None


class ChromiumNotInstalled(RuntimeError):
    """Neither HELPDESK_CHROMIUM nor /usr/bin/chromium names a Chromium, or Playwright is
    missing from the venv."""


def find_chromium() -> Path:
    """The Chromium to drive: HELPDESK_CHROMIUM if set, else Debian's /usr/bin/chromium."""
    chosen = os.environ.get(CHROMIUM_ENV)
    path = Path(chosen or DEFAULT_CHROMIUM)
    if path.is_file() and os.access(path, os.X_OK):
        return path
    if chosen:
        raise ChromiumNotInstalled(f"{CHROMIUM_ENV}={chosen} is not an executable file")
    raise ChromiumNotInstalled(f"{DEFAULT_CHROMIUM} not found: run `{APT_COMMAND}` as root")


def ensure_chromium_installed() -> None:
    """Raise ChromiumNotInstalled, with the command that fixes it, unless both the browser
    and Playwright are there."""
    find_chromium()
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        raise ChromiumNotInstalled(f"Playwright is not installed: run `{PIP_COMMAND}`") from None


async def launch(playwright: Playwright) -> Browser:
    """Start headless Chromium under a running Playwright driver (the Browser dies with it)."""
    return await playwright.chromium.launch(
        executable_path=find_chromium(), headless=True, args=list(CHROMIUM_ARGS)
    )


@asynccontextmanager
async def running_chromium() -> AsyncIterator[Browser]:
    """The Playwright driver and one headless Chromium, both stopped on the way out."""
    ensure_chromium_installed()  # told before the driver starts
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            yield browser
        finally:
            await browser.close()


def artifacts_dir(create: bool = True) -> Path | None:
    """This run's screenshot folder: HELPDESK_ARTIFACTS, or a new
    `<tmp>/helpdesk-screenshots-<timestamp>-<pid>`; None while nothing was kept."""
    global _artifacts
    if _artifacts is None and create:
        chosen = os.environ.get(ARTIFACTS_ENV)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = Path(chosen) if chosen else Path(tempfile.gettempdir())
        if not chosen:
            folder /= f"helpdesk-screenshots-{stamp}-{os.getpid()}"
        folder.mkdir(parents=True, exist_ok=True)
        _artifacts = folder
    return _artifacts


def _file_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "page"
    return safe.removesuffix(".png")


async def keep_screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG of `page` as `<name>.png` in this run's artifact folder (a
    repeated name gets `-2`, `-3`, ...) and return its path."""
    folder = artifacts_dir()
    assert folder is not None
    base = _file_name(name)
    path = folder / f"{base}.png"
    counter = 1
    while path.exists():
        counter += 1
        path = folder / f"{base}-{counter}.png"
    await page.screenshot(path=path, full_page=True)
    return path


def record_console(page: Page) -> list[str]:
    """A list that fills with the page's console messages and uncaught errors as
    `type: text` lines (a CSP violation shows up as `error: ... Content Security Policy`)."""
    lines: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        lines.append(f"{message.type}: {message.text}")

    def on_error(error: Exception) -> None:
        lines.append(f"pageerror: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_error)
    return lines
