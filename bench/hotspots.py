"""Where a profiled process spent its time: cProfile's own time grouped by package."""

from __future__ import annotations

import contextlib
import io
import pstats
import re
from collections import defaultdict
from pathlib import Path

_SITE_PACKAGE = re.compile(r"[/\\]site-packages[/\\]([A-Za-z0-9_]+)")
_STDLIB_PACKAGE = re.compile(r"[/\\]lib[/\\]python3\.\d+[/\\]([A-Za-z0-9_]+)")


def _group(filename: str, function: str, repo: Path) -> str:
    if filename == "~":  # C functions: name them by what they are
        if "epoll" in function:
            return "idle: waiting in epoll"
        if "_queue.SimpleQueue" in function or "greenlet" in function:
            return "C: thread queue and greenlet switches"
        if "socket" in function:
            return "C: socket send/recv"
        return "C: other built-ins"
    if found := _SITE_PACKAGE.search(filename):
        return found.group(1)
    if filename.startswith("<sqlalchemy generated"):
        return "sqlalchemy"
    if filename.startswith("<frozen"):
        return "stdlib: importlib"
    with contextlib.suppress(ValueError):
        return "project: " + Path(filename).relative_to(repo).parts[0]
    if found := _STDLIB_PACKAGE.search(filename):
        name = found.group(1)
        return f"stdlib: {name.removesuffix('.py')}"
    return "other"


def by_package(path: Path, repo: Path) -> list[tuple[str, float]]:
    """Own (not cumulative) seconds per package, largest first."""
    stats = pstats.Stats(str(path), stream=io.StringIO())
    totals: dict[str, float] = defaultdict(float)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in raw.items():
        totals[_group(filename, function, repo)] += own
    return sorted(totals.items(), key=lambda item: -item[1])


def report(path: Path, repo: Path, lines: int = 40) -> str:
    """The per-package table, then the top functions by own and by cumulative time.

    cProfile sees the main thread only: time spent in other threads (aiosqlite runs
    SQLite in one) shows up as the main thread waiting in epoll for their answer."""
    groups = by_package(path, repo)
    busy = sum(seconds for name, seconds in groups if not name.startswith("idle"))
    text = [
        f"main thread's own time by package (busy {busy:.3f} s; shares exclude idle;",
        "work in other threads, such as aiosqlite's, counts as idle here)",
    ]
    for name, seconds in groups[:20]:
        share = "" if name.startswith("idle") else f"{100 * seconds / busy:6.1f}%"
        text.append(f"  {name:42}{seconds:9.3f} s {share}")
    rest = sum(seconds for _name, seconds in groups[20:])
    text.append(f"  {'the rest':42}{rest:9.3f} s {100 * rest / busy:6.1f}%")
    out = io.StringIO()
    out.write("\nthe project's functions by cumulative time (a coroutine's time counts only\n")
    out.write("while it runs, not while it awaits; each resumption counts as a call)\n")
    ours = pstats.Stats(str(path), stream=out).sort_stats("cumulative")
    ours.print_stats(re.escape(str(repo)) + r"/(bot|commands|storage)/", lines)
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(lines)
    return "\n".join(text) + "\n" + out.getvalue()
