"""The registry of chat commands; `help` and dispatch are built from it."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.models import Role

if TYPE_CHECKING:
    from commands.context import Context
    from commands.tokens import Tokens

Handler = Callable[["Context", "Tokens"], Awaitable[str]]

EVERYONE = frozenset(Role)
ADMINS = frozenset({Role.ADMIN})
WORKERS = frozenset({Role.COORDINATOR, Role.USER})


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    usage: str
    roles: frozenset[Role]
    handler: Handler
    order: int
    raw: bool = False  # admin commands take plain words, not `#N @x !p ^d` tokens

    @property
    def summary(self) -> str:
        """The first line of the handler's docstring: the help text."""
        doc = inspect.getdoc(self.handler) or ""
        return doc.splitlines()[0] if doc else ""

    def allowed(self, role: Role) -> bool:
        return role in self.roles


class Registry:
    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        self._names: dict[str, Command] = {}

    def command(
        self,
        name: str,
        *,
        usage: str,
        aliases: Iterable[str] = (),
        roles: frozenset[Role] = EVERYONE,
        raw: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Register an `async def handler(ctx, tokens) -> str` under `name` and aliases."""

        def register(handler: Handler) -> Handler:
            command = Command(name, tuple(aliases), usage, roles, handler, len(self._commands), raw)
            self._commands[name] = command
            for word in (name, *command.aliases):
                if word in self._names:
                    raise ValueError(f"command word {word!r} registered twice")
                self._names[word] = command
            return handler

        return register

    def find(self, word: str) -> Command | None:
        return self._names.get(word.lower())

    def suggest(self, word: str, role: Role) -> str | None:
        """The closest command word this role may use, for "did you mean"."""
        words = [w for w, c in self._names.items() if c.allowed(role)]
        close = difflib.get_close_matches(word.lower(), words, n=1, cutoff=0.6)
        return close[0] if close else None

    def available_to(self, role: Role) -> list[Command]:
        return sorted(
            (c for c in self._commands.values() if c.allowed(role)), key=lambda c: c.order
        )


REGISTRY = Registry()
