"""`help`: generated from the registry, showing only what this person may run."""

from __future__ import annotations

from commands.context import Context
from commands.errors import UsageError
from commands.i18n import CATALOG
from commands.registry import REGISTRY, Command
from commands.tokens import Tokens


def summary(command: Command, language: str) -> str:
    """The command's help line: a translation where one ships, else its docstring."""
    return CATALOG.get(language, {}).get(f"help.{command.name}") or command.summary


@REGISTRY.command("help", aliases=("помощь", "справка", "?"), usage="help [command]")
async def help_(ctx: Context, tokens: Tokens) -> str:
    """List the commands you may use, or show one command's usage."""
    if tokens.words:
        command = REGISTRY.find(tokens.words[0].lstrip("/!"))
        if command is None or not command.allowed(ctx.actor.role):
            raise UsageError("unknown_command", word=tokens.words[0])
        return ctx.t("help_one", usage=command.usage, text=summary(command, ctx.actor.language))
    lines = [ctx.t("help_head")]
    for command in REGISTRY.available_to(ctx.actor.role):
        lines.append(f"{command.usage.split(' | ')[0]}: {summary(command, ctx.actor.language)}")
    return "\n".join(lines)
