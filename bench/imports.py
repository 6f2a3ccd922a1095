"""LDAP import + phone-book merge, timed, with the importing process's peak memory.

    .venv/bin/python -m bench.imports [--size 2000:1200] [--size 100000:60000]
        [--db sqlite|postgresql] [--out FILE]

For each size PEOPLE:ROWS: generate the directory and the phone book with the merge
tests' generator (tests/phonebook_data.py: Russian names with homonyms, a phone book of
ROWS rows with word order, initials, ё/е, case, stray spaces and typos, 14 % outsiders,
1 % bad rows, department headings), load the people into a real slapd on loopback with
slapadd (tests/slapd.py: AD-like schema, read-only service account, OpenLDAP's limit
`size.soft=500 size.hard=500 size.prtotal=unlimited`), write the phone book as a cp1251
`;` CSV, migrate an empty database. None of that is timed.

Then a fresh child process (so that its peak RSS is the import's, not the generator's)
does what `helpdesk import ldap` and `helpdesk import phonebook` do, timed phase by phase:
read the directory over LDAP, paged 500 at a time (importers.ldap.read_directory, in a
thread as run_ldap_import runs it), upsert the customers (import_directory), merge the
phone book (importers.merge.import_phonebook: read, match, write). The child reports its
ru_maxrss. Afterwards the parent measures the merge's precision and recall against the
generator's truth, as tests/test_merge.py does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.stack import PG_SERVER, REPO, git_state, scratch_database
from bot.config import LdapConfig, Secret
from importers.names import name_key
from storage import migrate
from storage.db import make_engine, make_sessions
from storage.models import Customer, CustomerPhone, MergeReview
from tests.slapd import SlapdServer, ldif_entry

# the merge tests' generator, untyped here: mypy would check that test module along
phonebook_data: Any = importlib.import_module("tests.phonebook_data")
Dataset = Any
PASSWORD_ENV = "BENCH_LDAP_PASSWORD"
PAGE_SIZE = 500
DEFAULT_SIZES = ("2000:1200", "100000:60000")
# quality.md
TARGETS = {(2_000, 1_200): (3.0, None), (100_000, 60_000): (60.0, 1024.0)}  # s, MB
PRECISION, RECALL = 0.995, 0.98


# --- the child: the import itself -----------------------------------------------------------
def _maxrss_mb() -> float:
    """The process's peak resident memory in MB: VmHWM, the high-water mark of this
    program's memory; ru_maxrss where there is no /proc. (On Linux ru_maxrss also keeps the
    peak of the parent's memory that a fork copied before the exec: here 280 MB of
    generated data, more than this process ever held by itself.)"""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


async def _child(args: argparse.Namespace) -> dict[str, object]:
    from importers.ldap import import_directory, read_directory
    from importers.merge import import_phonebook

    at_start = _maxrss_mb()
    config = LdapConfig(url=args.ldap_url, bind_dn=args.bind_dn,
                        password=Secret(os.environ[PASSWORD_ENV]), base_dn=args.base_dn,
                        page_size=PAGE_SIZE)  # fmt: skip
    engine = make_engine(args.url)
    sessions = make_sessions(engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        t0 = time.perf_counter()
        people = await asyncio.to_thread(read_directory, config)
        t1 = time.perf_counter()
        ldap_counts = await import_directory(sessions, people, now=now)
        t2 = time.perf_counter()
        after_ldap = _maxrss_mb()
        merge_counts = await import_phonebook(sessions, Path(args.phonebook), {}, now=now)
        t3 = time.perf_counter()
    finally:
        await engine.dispose()
    merged = asdict(merge_counts)
    merged["bad_rows"] = len(merge_counts.bad_rows)
    return {
        "people_read": len(people),
        "seconds": {"ldap_read": t1 - t0, "ldap_upsert": t2 - t1, "merge": t3 - t2,
                    "total": t3 - t0},
        "ldap_counts": asdict(ldap_counts),
        "merge_counts": merged,
        "maxrss_mb": {"at_start": at_start, "after_ldap": after_ldap, "peak": _maxrss_mb(),
                      "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
    }  # fmt: skip


# --- the parent: data, servers, truth -------------------------------------------------------
def ldif(dataset: Dataset, people_dn: str) -> str:
    """The directory people as AD-like entries (all enabled), as tests/test_ldap_import.py
    writes them."""
    entries = []
    for person in dataset.people:
        entries.append(ldif_entry(f"cn={person.login},{people_dn}", {
            "objectClass": ["inetOrgPerson", "user"], "cn": person.login,
            "sn": person.full_name.split()[0], "displayName": person.full_name,
            "sAMAccountName": person.login, "mail": f"{person.login}@company.example",
            "department": "Бухгалтерия", "telephoneNumber": person.phones,
            "userAccountControl": 512, "objectCategory": "person",
        }))  # fmt: skip
    return "\n".join(entries)


async def _prepare(url: str) -> None:
    engine = make_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def quality(url: str, dataset: Dataset) -> dict[str, object]:
    """Precision and recall of the merge, each row traced by its unique extension (its
    first phone), as tests/test_merge.py measures them; homonyms merged automatically."""
    engine = make_engine(url)
    try:
        async with make_sessions(engine)() as session:
            found = await session.execute(
                select(CustomerPhone.digits, Customer.login)
                .join(Customer, Customer.id == CustomerPhone.customer_id)
            )  # fmt: skip
            owner = {digits: login for digits, login in found}
    finally:
        await engine.dispose()
    rows = dataset.rows()
    twins = {p.id for p in dataset.people if name_key(p.full_name) in dataset.homonyms}
    merged_to: dict[int, int] = {}
    for i, row in enumerate(rows):
        login = owner.get(row.phones[0])
        if login:
            merged_to[i] = int(login[1:])
    right = sum(1 for i, person in merged_to.items() if person == rows[i].person)
    belong = [i for i, r in enumerate(rows) if r.person is not None and r.person not in twins]
    hits = sum(1 for i in belong if merged_to.get(i) == rows[i].person)
    twin_merged = sum(1 for i in merged_to if rows[i].person in twins)
    return {
        "precision": right / len(merged_to) if merged_to else None,
        "recall": hits / len(belong) if belong else None,
        "homonym_rows_merged": twin_merged,
        "rows_merged": len(merged_to),
    }


async def _reviews(url: str) -> int:
    engine = make_engine(url)
    try:
        async with make_sessions(engine)() as session:
            return len((await session.scalars(select(MergeReview.id))).all())
    finally:
        await engine.dispose()


def run_size(people: int, rows: int, args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp, contextlib.ExitStack() as st:
        work = Path(tmp)
        say(f"{people:,} + {rows:,}: generating")
        t0 = time.perf_counter()
        pairs = max(10, people // 200)
        dataset = phonebook_data.make_dataset(people, rows, homonym_pairs=pairs, seed=args.seed)
        book = work / "phonebook.csv"
        phonebook_data.write_csv(book, dataset.entries)
        generated = time.perf_counter() - t0
        slapd = SlapdServer(work / "slapd")
        st.callback(slapd.stop)
        say(f"{people:,} + {rows:,}: slapadd")
        t0 = time.perf_counter()
        slapd.start(preload=ldif(dataset, slapd.people_dn), timeout=60)
        loaded = time.perf_counter() - t0
        url = st.enter_context(scratch_database(args.db, work, args.pg_server))
        asyncio.run(_prepare(url))
        say(f"{people:,} + {rows:,}: importing (child process)")
        child = subprocess.run(
            [sys.executable, "-m", "bench.imports", "--child", "--url", url,
             "--ldap-url", slapd.url, "--bind-dn", slapd.service_dn,
             "--base-dn", slapd.people_dn, "--phonebook", str(book)],
            cwd=REPO, env={**os.environ, PASSWORD_ENV: slapd.service_password},
            capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
        if child.returncode != 0:
            raise RuntimeError(f"the import failed:\n{child.stderr[-3000:]}")
        result: dict[str, object] = json.loads(child.stdout.strip().splitlines()[-1])
        say(f"{people:,} + {rows:,}: checking the merge against the truth")
        result["quality"] = asyncio.run(quality(url, dataset))
        result["review_list"] = asyncio.run(_reviews(url))
        target_s, target_mb = TARGETS.get((people, rows), (None, None))
        result |= {
            "people": people, "rows": rows, "phonebook_lines": len(dataset.entries),
            "homonym_pairs": pairs,
            "untimed_seconds": {"generate": generated, "slapadd_and_start": loaded},
            "target": {"total_seconds": target_s, "peak_mb": target_mb},
        }  # fmt: skip
        return result


def machine() -> dict[str, object]:
    from bench.stack import _cpu_model, _memory_mb

    slapd = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "slapd"],
                           capture_output=True, text=True, check=False).stdout  # fmt: skip
    packages = ("sqlalchemy", "aiosqlite", "asyncpg", "ldap3", "rapidfuzz")
    versions = {}
    for name in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_mb": _memory_mb(),
        "system": platform.platform(), "python": platform.python_version(),
        "slapd": slapd or "?", **versions,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": git_state(),
    }  # fmt: skip


def print_result(result: dict[str, object], db: str) -> None:
    seconds = result["seconds"]
    rss = result["maxrss_mb"]
    q = result["quality"]
    target = result["target"]
    assert isinstance(seconds, dict) and isinstance(rss, dict)
    assert isinstance(q, dict) and isinstance(target, dict)
    total, peak = seconds["total"], rss["peak"]
    verdicts = []
    if target["total_seconds"] is not None:
        ok = total <= target["total_seconds"]
        verdicts.append(f"time {'met' if ok else 'MISSED'} (<= {target['total_seconds']:g} s)")
    if target["peak_mb"] is not None:
        ok = peak <= target["peak_mb"]
        verdicts.append(f"memory {'met' if ok else 'MISSED'} (<= {target['peak_mb']:g} MB)")
    print(
        f"\n{db}: {result['people']:,} people + {result['rows']:,} rows "
        f"({result['people_read']:,} read over LDAP, paged {PAGE_SIZE})\n"
        f"  LDAP read {seconds['ldap_read']:.2f} s, upsert {seconds['ldap_upsert']:.2f} s, "
        f"merge {seconds['merge']:.2f} s, total {total:.2f} s\n"
        f"  peak RSS {peak:.0f} MB (interpreter with imports {rss['at_start']:.0f} MB, "
        f"after LDAP {rss['after_ldap']:.0f} MB)\n"
        f"  ldap {result['ldap_counts']}\n  merge {result['merge_counts']}\n"
        f"  merge quality: precision {q['precision']:.4f}, recall {q['recall']:.4f}, "
        f"homonym rows merged {q['homonym_rows_merged']}\n"
        f"  target: {'; '.join(verdicts) or '-'}"
    )


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.imports",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--size", action="append", help="PEOPLE:ROWS (default 2000:1200 and 100000:60000)")
    add("--db", choices=("sqlite", "postgresql"), default="sqlite")
    add("--pg-server", default=PG_SERVER, help=f"where to create the database ({PG_SERVER})")
    add("--seed", type=int, default=1, help="random seed of the generated data (default 1)")
    add("--out", type=Path, help="JSON file (default bench/results/imports-<db>.json)")
    # the child's own arguments
    add("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("--url", "--ldap-url", "--bind-dn", "--base-dn", "--phonebook"):
        add(name, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_child(args))))
        return 0
    sizes = []
    for size in args.size or DEFAULT_SIZES:
        people, _, rows = size.partition(":")
        sizes.append((int(people), int(rows)))
    facts = machine()
    results = []
    try:
        for people, rows in sizes:
            result = run_size(people, rows, args)
            print_result(result, args.db)
            results.append(result)
    except KeyboardInterrupt:
        say("interrupted; everything the benchmark started has been stopped")
        return 130
    out: Path = args.out or REPO / "bench" / "results" / f"imports-{args.db}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "imports", "database": args.db, "page_size": PAGE_SIZE,
              "results": results, "machine": facts}  # fmt: skip
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
