"""`help`: generated from the registry, showing only what this person may run."""

from __future__ import annotations

from commands.context import Context
from commands.errors import UsageError
from commands.i18n import CATALOG
from commands.registry import REGISTRY, Command
from commands.tokens import Tokens


def summary(command: Command, language: str) -> str:
    """The command's help line from the catalogs, else its docstring."""
    return CATALOG.get(language, {}).get(f"help.{command.name}") or command.summary


def _aliases(ctx: Context, command: Command) -> str:
    """ " (also: взять, беру)": the other words for the command (the Russian ones, mostly)."""
    words = [w for w in command.aliases if w.isalpha()]
    return f" ({ctx.t('help_aliases', words=', '.join(words))})" if words else ""


@REGISTRY.command("help", aliases=("помощь", "справка", "?"), usage="help [command]")
async def help_(ctx: Context, tokens: Tokens) -> str:
    """List the commands you may use, or show one command's usage."""
    if tokens.words:
        command = REGISTRY.find(tokens.words[0].lstrip("/!"))
        if command is None or not command.allowed(ctx.actor.role):
            raise UsageError("unknown_command", word=tokens.words[0])
        text = summary(command, ctx.actor.language) + _aliases(ctx, command)
        return ctx.t("help_one", usage=command.usage, text=text)
    lines = [ctx.t("help_head")]
    for command in REGISTRY.available_to(ctx.actor.role):
        usage = command.usage.split(" | ")[0]
        lines.append(f"{usage}: {summary(command, ctx.actor.language)}{_aliases(ctx, command)}")
    return "\n".join(lines)
