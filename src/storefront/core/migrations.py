"""Alembic from code: the configuration, the head revision, the database's revision, and
`upgrade head`."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


def _project_root() -> Path:
    """Where alembic.ini and migrations/ live: STOREFRONT_PROJECT_ROOT if set, else the
    checkout this package sits in (editable install), else the working directory (a
    non-editable install run from the project root, as the container does)."""
    configured = os.environ.get("STOREFRONT_PROJECT_ROOT")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "alembic.ini").is_file():
        return checkout
    return Path.cwd()


PROJECT_ROOT = _project_root()
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(ALEMBIC_INI))
    # Called from our code, logging is already set up: env.py must not reconfigure it.
    config.attributes["configure_logger"] = False
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if database_url is not None:
        # env.py prefers this over the settings; '%' must be escaped for configparser.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


@lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def upgrade_head(database_url: str | None = None) -> None:
    """Blocking: run from a thread or before the event loop starts."""
    command.upgrade(alembic_config(database_url), "head")


async def database_revisions(connection: AsyncConnection) -> set[str]:
    """The revisions the database's schema is at; raises if it has never been migrated."""
    rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
    return {row[0] for row in rows}
