"""Schema migrations (Alembic), run from code: `helpdesk db upgrade` and `helpdesk run`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _pending(connection: Connection, config: Config) -> list[str]:
    current = MigrationContext.configure(connection).get_current_heads()
    script = ScriptDirectory.from_config(config)
    newest_first = [
        rev.revision
        for rev in script.iterate_revisions("heads", "base")
        if rev.revision not in current and not _is_ancestor(script, rev.revision, current)
    ]
    return newest_first[::-1]  # in the order they apply


def _is_ancestor(script: ScriptDirectory, revision: str, heads: tuple[str, ...]) -> bool:
    return any(
        revision in {r.revision for r in script.iterate_revisions(head, "base")} for head in heads
    )


async def pending(engine: AsyncEngine) -> list[str]:
    """Revisions not yet applied to this database."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    async with engine.connect() as connection:
        return await connection.run_sync(_pending, config)


async def upgrade(engine: AsyncEngine) -> list[str]:
    """Apply pending migrations; returns what was applied."""
    todo = await pending(engine)
    if todo:
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, config)
    return todo
