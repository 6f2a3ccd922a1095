"""Domain errors: shown to the person as written, in their language."""

from __future__ import annotations


class CommandError(Exception):
    """A message key of `commands.i18n` and its parameters; nothing was changed."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class UsageError(CommandError):
    """Bad arguments: the reply adds the usage of the command."""


class NotFound(CommandError):
    """A ticket that does not exist, or one this person may not see: the same answer."""

    def __init__(self, number: int) -> None:
        super().__init__("not_found", n=number)
