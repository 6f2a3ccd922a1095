"""Round trips of chat commands through Prosody, beside a bare echo bot in the same run.

    .venv/bin/python -m bench.roundtrip [--tickets 10000] [--rounds 500]
        [--db sqlite|postgresql] [--out FILE]

One Prosody in a temporary folder; the echo bot and `helpdesk run` as child processes
of their own; a staff client that alternates an echo with each command (help, new,
show #N, list) in a shuffled order, so drift hits the baseline and the commands alike.
Everything it starts it stops, on Ctrl-C and on errors too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import yaml
from sqlalchemy.engine import make_url

from bench import hotspots
from bench.echo import ONLINE, PASSWORD_ENV
from bench.rounds import (
    BOT,
    ECHO,
    NEW_TEXT,
    PROSODY,
    CpuSpent,
    Plan,
    Rounds,
    jid,
    measure,
)
from bench.stack import (
    DOMAIN,
    PG_SERVER,
    REPO,
    Child,
    StackFailed,
    machine_facts,
    register_accounts,
    scratch_database,
    seed_database,
)
from bench.stats import TARGET_P50_ABOVE_MS, TARGET_P99_ABOVE_MS, Summary, table
from bench.xmpp import BenchFailed
from bot import seed
from bot.prosody import ProsodyFailed, ProsodyNotInstalled, ProsodyServer


# --- the stack around it --------------------------------------------------------------------
def write_bot_config(workdir: Path, password: str, port: int, url: str) -> Path:
    path = workdir / "bot.yaml"
    config = {
        "xmpp": {"jid": jid(BOT), "password": password, "server": f"127.0.0.1:{port}",
                 "tls": "none"},
        "database": {"url": url},
        "language": "en",
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    path.chmod(0o600)
    return path


@dataclass
class Outcome:
    rounds: Rounds
    machine: dict[str, object]
    profile: str | None


def run_benchmark(args: argparse.Namespace) -> Outcome:
    """Start everything, seed, measure; stop everything whatever happens."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-roundtrip-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        prosody = ProsodyServer(work / "prosody", domain=DOMAIN, muc=False)
        stack.callback(prosody.stop)
        prosody.start()
        passwords = register_accounts(prosody, [BOT, ECHO, *(s[0] for s in seed.STAFF)])
        url = stack.enter_context(scratch_database(args.db, work, args.pg_server))
        say(f"seeding {args.db}: {args.customers:,} customers, {args.tickets:,} tickets")
        seeded = asyncio.run(
            seed_database(url, tickets=args.tickets, customers=args.customers,
                          viewer=args.login, rng=random.Random(args.seed))
        )  # fmt: skip
        config = write_bot_config(work, passwords[BOT], prosody.c2s_port, url)
        echo_argv = [sys.executable, "-m", "bench.echo", "--jid", jid(ECHO)]
        echo = Child.start(
            "echo", [*echo_argv, "--port", str(prosody.c2s_port)], work,
            {PASSWORD_ENV: passwords[ECHO]},
        )  # fmt: skip
        stack.callback(echo.stop)
        profiler = ["-m", "cProfile", "-o", str(work / "bot.prof")] if args.profile else []
        bot_argv = ["-m", "bot.cli", "--config", str(config), "run"]
        bot = Child.start(BOT, [sys.executable, *profiler, *bot_argv], work, {})
        stack.callback(bot.stop)
        echo.wait_for(ONLINE, 20)
        bot.wait_for(f"online as {jid(BOT)}", 60)
        machine = machine_facts(prosody) | {"database_server": seeded.database_version}
        say(f"measuring: {args.warmup} warm-up + {args.rounds} rounds as {args.login}")
        assert prosody.pid is not None
        pids = {ECHO: echo.process.pid, BOT: bot.process.pid, PROSODY: prosody.pid}
        database = make_url(url).database if args.db == "postgresql" else None
        plan = Plan(args.login, args.warmup, args.rounds, args.gap_ms / 1000, args.seed)
        rounds = asyncio.run(
            measure(plan, prosody.address, passwords, seeded.visible_ids, pids, database)
        )
        machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        bot.stop()
        profile = None
        if args.profile:
            profile = hotspots.report(work / "bot.prof", REPO)
            out_prof = args.out.with_suffix(".prof")
            out_prof.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(work / "bot.prof", out_prof)
        return Outcome(rounds, machine, profile)


# --- reporting ------------------------------------------------------------------------------
def results(outcome: Outcome) -> dict[str, Summary]:
    return {name: Summary.of(seconds) for name, seconds in outcome.rounds.samples.items()}


def cpu_means(outcome: Outcome) -> dict[str, CpuSpent]:
    """Mean CPU time per round trip, by command, in milliseconds."""
    return {name: CpuSpent.mean_ms(spent) for name, spent in outcome.rounds.cpu.items()}


def report(args: argparse.Namespace, outcome: Outcome) -> dict[str, object]:
    rows, cpu = results(outcome), cpu_means(outcome)
    echo = rows["echo"]
    fanout = Summary.of(outcome.rounds.fanout)
    members = sorted(outcome.rounds.members)
    return {
        "benchmark": "roundtrip",
        "database": args.db,
        "tickets": args.tickets,
        "customers": args.customers,
        "rounds": args.rounds,
        "warmup_rounds": args.warmup,
        "gap_ms": args.gap_ms,
        "client": args.login,
        "commands": {"new": NEW_TEXT, "show": "show #N, N random among the tickets it may see"},
        "profiled": args.profile,
        "unit": "ms",
        "target": {"p50_above_echo": TARGET_P50_ABOVE_MS, "p99_above_echo": TARGET_P99_ABOVE_MS,
                   "quality_md_scale": "100,000 customers and 1,000,000 tickets"},
        "results": {name: row.as_json(None if name == "echo" else echo)
                         | cpu[name].as_json()
                    for name, row in rows.items()},
        "fanout_after_reply": {"members": members, **fanout.as_json()},
        "database_server_cpu_per_command": outcome.rounds.database_cpu_per_command,
        "stray_messages": outcome.rounds.board.stray[:20],
        "machine": outcome.machine,
    }  # fmt: skip


def print_report(args: argparse.Namespace, outcome: Outcome) -> None:
    rows = results(outcome)
    fanout = Summary.of(outcome.rounds.fanout)
    machine = outcome.machine
    print(
        f"\nround trips in ms, {args.db} {machine['database_server']}, {args.tickets:,} tickets, "
        f"{args.customers:,} customers; {args.rounds} rounds after {args.warmup} warm-up, "
        f"client {args.login}"
    )
    cpu = {name: (spent.process, spent.prosody) for name, spent in cpu_means(outcome).items()}
    print(table(rows, "echo", cpu))
    members = ", ".join(sorted(outcome.rounds.members))
    print(
        f"new: the last of {members} had the notice {fanout.p50:.3f} ms (p50), "
        f"{fanout.p99:.3f} ms (p99) after the creator's reply"
    )
    print(
        f"target: p50 <= {TARGET_P50_ABOVE_MS:g} ms and p99 <= {TARGET_P99_ABOVE_MS:g} ms above "
        "the echo (quality.md sets it at 100,000 customers / 1,000,000 tickets)"
    )
    print(
        f"machine: {machine['cores']} cores ({machine['cpu']}), Python {machine['python']}, "
        f"slixmpp {machine['slixmpp']}, Prosody {machine['prosody']}, {machine['date']}"
    )
    if (db_cpu := outcome.rounds.database_cpu_per_command) is not None:
        print(f"PostgreSQL backends: {db_cpu:.3f} ms CPU per command (mean over all four)")
    if outcome.rounds.board.stray:
        print(f"warning: {len(outcome.rounds.board.stray)} unexpected messages", file=sys.stderr)
    if args.profile:
        print("warning: the bot ran under cProfile; its figures are inflated", file=sys.stderr)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.roundtrip",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--tickets", type=int, default=10_000, help="bulk tickets to seed (default 10000)")
    add("--customers", type=int, default=1_000, help="customers to seed (default 1000)")
    add("--rounds", type=int, default=500, help="measured rounds (default 500)")
    add("--warmup", type=int, default=50, help="rounds measured and discarded (default 50)")
    add("--db", choices=("sqlite", "postgresql"), default="sqlite")
    add("--pg-server", default=PG_SERVER, help=f"where to create the database ({PG_SERVER})")
    add("--as", dest="login", default="head_it", choices=[s[0] for s in seed.STAFF],
        help="the measuring staff member (default head_it)")  # fmt: skip
    add("--gap-ms", type=float, default=5.0, help="idle time after each round trip (default 5)")
    add("--seed", type=int, default=2026, help="random seed of the data and the command order")
    add("--out", type=Path, help="JSON file (default bench/results/roundtrip-<db>.json)")
    add("--profile", action="store_true",
        help="run the bot under cProfile (inflating its figures); write its profile, and the "
             "JSON as roundtrip-<db>-profiled.json, to bench/results/")  # fmt: skip
    return parser


def _as_ctrl_c(_signum: int, _frame: FrameType | None) -> None:
    # SIGTERM takes Ctrl-C's path: inside asyncio.run that cancels the main task (the
    # `finally` blocks stop the clients), elsewhere it is a KeyboardInterrupt
    signal.raise_signal(signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rounds < 2 or args.tickets < 1 or args.customers < 1:
        print("bench.roundtrip: needs --rounds >= 2, --tickets >= 1, --customers >= 1")
        return 2
    # a profiled run's figures are inflated: they never overwrite a plain run's
    name = f"roundtrip-{args.db}{'-profiled' if args.profile else ''}.json"
    out: Path = args.out or REPO / "bench" / "results" / name
    args.out = out
    signal.signal(signal.SIGTERM, _as_ctrl_c)
    try:
        outcome = run_benchmark(args)
    except KeyboardInterrupt:
        say("interrupted; everything the benchmark started has been stopped")
        return 130
    except (BenchFailed, StackFailed, ProsodyFailed, ProsodyNotInstalled, OSError) as exc:
        say(f"bench.roundtrip: {exc}")
        return 1
    print_report(args, outcome)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report(args, outcome), indent=2, ensure_ascii=False) + "\n")
    if outcome.profile is not None:
        out.with_suffix(".profile.txt").write_text(outcome.profile)
    say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
