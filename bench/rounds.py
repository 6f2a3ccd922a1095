"""The measuring loop: a staff client alternating echo and command round trips."""

from __future__ import annotations

import asyncio
import random
import re
import statistics
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from bench.stack import DOMAIN, cpu_ns, database_backends_cpu_ns
from bench.xmpp import BenchFailed, Listener, Reply, TimingClient
from bot import seed

BOT, ECHO, PROSODY = "helpdesk", "echo", "prosody"
COMMANDS = ("help", "new", "show", "list")
TARGET_DEPARTMENT = "it"
NEW_TEXT = f"new bench ticket @{TARGET_DEPARTMENT}"
_OPENED = re.compile(rf"Ticket #(\d+) opened for @{TARGET_DEPARTMENT}\.")
_NOTICE = re.compile(r"#(\d+) .*\nNew for @")  # a new ticket's notification
_LIST_LINE = re.compile(r"#\d+ \[")


def jid(login: str) -> str:
    return f"{login}@{DOMAIN}"


def notified_by_new(department: str, creator: str) -> frozenset[str]:
    """Who `new ... @department` notifies (every member but its creator), per seed.STAFF."""
    return frozenset(
        login
        for login, _role, home, extras in seed.STAFF
        if (home == department or department in extras) and login != creator
    )


_CPU_FIELDS = ("main", "others", "prosody")


@dataclass(frozen=True)
class CpuSpent:
    """CPU time: the answering process's main thread, its other threads, and Prosody."""

    main: float
    others: float
    prosody: float

    def __sub__(self, earlier: CpuSpent) -> CpuSpent:
        return CpuSpent(
            self.main - earlier.main, self.others - earlier.others, self.prosody - earlier.prosody
        )

    @property
    def process(self) -> float:
        return self.main + self.others

    @classmethod
    def mean_ms(cls, spent: list[CpuSpent]) -> CpuSpent:
        """The mean of nanosecond figures, in milliseconds."""
        return cls(*(statistics.fmean(getattr(s, f) for s in spent) / 1e6 for f in _CPU_FIELDS))

    def as_json(self) -> dict[str, object]:
        return {
            "cpu_mean": {
                "answering_process": round(self.process, 4),
                "its_main_thread": round(self.main, 4),
                "its_other_threads": round(self.others, 4),
                "prosody": round(self.prosody, 4),
            }
        }


@dataclass
class NoticeBoard:
    """When each staff client got the notice of each new ticket."""

    arrivals: dict[int, dict[str, float]] = field(default_factory=dict)
    stray: list[str] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def listener(self, login: str) -> Listener:
        def heard(arrived: float, sender: str, body: str) -> None:
            found = _NOTICE.match(body)
            if sender == jid(BOT) and found:
                self.arrivals.setdefault(int(found.group(1)), {})[login] = arrived
                self._changed.set()
            else:
                self.stray.append(f"{login} got from {sender}: {body[:80]!r}")

        return heard

    async def all_heard(self, number: int, logins: frozenset[str], timeout: float = 10) -> float:
        """When the last of `logins` got the notice of #number."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not logins <= self.arrivals.get(number, {}).keys():
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), max(deadline - loop.time(), 0))
            except TimeoutError:
                missing = sorted(logins - self.arrivals.get(number, {}).keys())
                raise BenchFailed(f"no notice of #{number} for {missing} in {timeout}s") from None
        return max(self.arrivals[number][login] for login in logins)


def _as_expected(command: str, number: int, reply: str) -> bool:
    return {
        "help": reply.startswith("Commands you may use"),
        "new": _OPENED.fullmatch(reply) is not None,
        "show": reply.startswith(f"#{number} ["),
        "list": _LIST_LINE.match(reply) is not None,
    }[command]


class Interleaved(ABC):
    """The measuring loop shared by the round-trip benchmarks: each round, every kind of
    sample once in a shuffled order, each right after its own echo, so drift and noise hit
    the baseline and the product alike. Each sample is followed by `gap` seconds of quiet,
    and the CPU time the answering process used is read around it, gap included.

    A subclass has `client`, `pids`, `rng`, `gap`, `samples`, `cpu` and `_count`, names
    its kinds in KINDS and measures one with `_measure`."""

    KINDS: tuple[str, ...] = ()
    client: TimingClient
    pids: dict[str, int]  # of the echo bot, the helpdesk and Prosody
    rng: random.Random
    gap: float
    samples: dict[str, list[float]]
    cpu: dict[str, list[CpuSpent]]
    _count: int

    @abstractmethod
    async def _measure(self, kind: str, keep: bool) -> None:
        """Take one sample of `kind` (and record it when `keep`)."""

    async def run(self, rounds: int, keep: bool) -> None:
        for name in ("echo", *self.KINDS):
            self.samples.setdefault(name, [])
            self.cpu.setdefault(name, [])
        for index in range(rounds):
            for kind in self.rng.sample(self.KINDS, len(self.KINDS)):
                await self._echo(keep)
                await self._measure(kind, keep)
            if (index + 1) % 100 == 0:
                what = "measured" if keep else "warm-up"
                print(f"  {what} round {index + 1}/{rounds}", file=sys.stderr, flush=True)

    async def _echo(self, keep: bool) -> None:
        self._count += 1
        body = f"echo {self._count}"
        before = self._cpu(ECHO)
        reply = await self.client.roundtrip(jid(ECHO), body)
        if reply.body != body:
            raise BenchFailed(f"the echo bot answered {reply.body!r} to {body!r}")
        await asyncio.sleep(self.gap)
        self._record("echo", reply.seconds, self._cpu(ECHO) - before, keep)

    def _cpu(self, answering: str) -> CpuSpent:
        main, others = cpu_ns(self.pids[answering])
        return CpuSpent(main, others, sum(cpu_ns(self.pids[PROSODY])))

    def _record(self, name: str, seconds: float, cpu: CpuSpent, keep: bool) -> None:
        if keep:
            self.samples[name].append(seconds)
            self.cpu[name].append(cpu)


@dataclass
class Rounds(Interleaved):
    """help, new, show and list, interleaved with echoes; the notifications of a `new`
    are awaited before the next sample."""

    KINDS = COMMANDS

    client: TimingClient
    board: NoticeBoard
    visible: list[int]
    members: frozenset[str]
    pids: dict[str, int]
    rng: random.Random
    gap: float
    samples: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[CpuSpent]] = field(default_factory=dict)
    fanout: list[float] = field(default_factory=list)
    # a PostgreSQL server's backends for this database: mean CPU ms per command
    database_cpu_per_command: float | None = None
    _count: int = 0

    async def _measure(self, kind: str, keep: bool) -> None:
        number = self.rng.choice(self.visible)
        body = {"new": NEW_TEXT, "show": f"show #{number}"}.get(kind, kind)
        before = self._cpu(BOT)
        reply = await self.client.roundtrip(jid(BOT), body)
        if not _as_expected(kind, number, reply.body):
            raise BenchFailed(f"unexpected reply to {body!r}: {reply.body[:200]!r}")
        if kind == "new":
            await self._fanout(reply, keep)
        await asyncio.sleep(self.gap)
        self._record(kind, reply.seconds, self._cpu(BOT) - before, keep)

    async def _fanout(self, reply: Reply, keep: bool) -> None:
        opened = _OPENED.fullmatch(reply.body)
        assert opened is not None
        last = await self.board.all_heard(int(opened.group(1)), self.members)
        if keep:
            self.fanout.append(last - reply.arrived)


@dataclass(frozen=True)
class Plan:
    """What to measure, as whom, how long."""

    login: str  # the measuring staff member
    warmup: int
    rounds: int
    gap: float  # seconds
    seed: int


async def measure(
    plan: Plan,
    address: tuple[str, int],
    passwords: dict[str, str],
    visible: list[int],
    pids: dict[str, int],
    database: str | None,
) -> Rounds:
    """Connect every staff client, run the rounds, disconnect; `database` names the
    PostgreSQL database whose server processes' CPU time to count (None for SQLite)."""
    board = NoticeBoard()
    me = TimingClient(jid(plan.login), passwords[plan.login], address)
    others = [
        TimingClient(jid(login), passwords[login], address, listener=board.listener(login))
        for login, *_ in seed.STAFF
        if login != plan.login
    ]
    rounds = Rounds(
        me, board, visible, notified_by_new(TARGET_DEPARTMENT, plan.login), pids,
        random.Random(plan.seed), plan.gap,
    )  # fmt: skip
    try:
        await asyncio.gather(*(client.start() for client in (me, *others)))
        await rounds.run(plan.warmup, keep=False)
        before = database_backends_cpu_ns(database) if database else {}
        await rounds.run(plan.rounds, keep=True)
        if database:
            after = database_backends_cpu_ns(database)
            spent = sum(ns - before.get(pid, 0) for pid, ns in after.items())
            rounds.database_cpu_per_command = spent / 1e6 / (plan.rounds * len(COMMANDS))
    finally:
        await asyncio.gather(*(client.stop() for client in (me, *others)), return_exceptions=True)
    board.stray.extend(f"{plan.login} got from {s}: {b[:80]!r}" for s, b in me.stray)
    return rounds
