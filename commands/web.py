"""The web page's sign-in link: `report`."""

from __future__ import annotations

from commands.context import Context
from commands.jobs import duration_text
from commands.registry import REGISTRY
from commands.tokens import Tokens
from storage import web_auth


@REGISTRY.command("report", aliases=("отчёт", "отчет"), usage="report")
async def report(ctx: Context, tokens: Tokens) -> str:
    """A one-time link to the web page with your reports, valid 10 minutes."""
    tokens.only()
    if ctx.web_url is None:
        return ctx.t("web_not_configured")
    token = await web_auth.create_link(ctx.session, ctx.actor.id, ctx.now, ctx.link_lifetime)
    # the token is a password for the next minutes: it goes into the reply and nowhere else
    url = f"{ctx.web_url.rstrip('/')}/login/{token}"
    valid = duration_text(ctx.actor.language, ctx.link_lifetime)
    return ctx.t("report_link", valid=valid, url=url)
