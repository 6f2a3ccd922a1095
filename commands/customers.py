"""Customer commands: `who` finds callers (full search arrives with the import)."""

from __future__ import annotations

from commands import lookup
from commands.context import Context
from commands.errors import CommandError, UsageError
from commands.registry import REGISTRY
from commands.tokens import Tokens


@REGISTRY.command("who", aliases=("кто",), usage="who <phone|name|login|c123>")
async def who(ctx: Context, tokens: Tokens) -> str:
    """Find a customer by phone, name or login."""
    words = [*tokens.words, *(f"@{t}" for t in tokens.targets)]
    query = " ".join(words).replace('"', "").strip()
    if not query:
        raise UsageError("need_text")
    if not len(query.split()) == 1:
        raise CommandError("no_customer", who=query)
    customer = await lookup.customer(ctx, query)
    lines = [customer.full_name]
    lines += [
        v
        for v in (
            customer.login,
            customer.department,
            customer.room,
            customer.phones,
            customer.email,
        )
        if v
    ]
    return "\n".join(lines)
