"""Alembic environment: async engine, URL from the settings, one advisory lock on PostgreSQL.

URL precedence: `-x url=...`, then `sqlalchemy.url` set by code (tests, `storefront
migrate`), then STOREFRONT_DATABASE_URL / .env through the settings.
"""

from __future__ import annotations

import asyncio
import logging.config

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

# Every domain's models register on Base.metadata (env.py and main.py know all domains).
import storefront.auth.models
import storefront.orders.models
import storefront.products.models
import storefront.users.models  # noqa: F401
from storefront.core.config import load_database_settings_or_exit
from storefront.core.database import Base, UTCDateTime, ensure_sqlite_directory

# A constant key: every Storefront migration runner on this database takes the same lock.
MIGRATION_LOCK_KEY = 0x53544F5245  # "STORE"

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def render_item(type_: str, obj: object, _context: object) -> str | bool:
    """Render our UTC type as the portable column type it stands for."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    return url or load_database_settings_or_exit().database_url


def run_migrations_offline() -> None:
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
        render_item=render_item,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=render_item,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Replicas whose init containers start together queue here; the ones that
            # follow find the schema at head and have nothing to do.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


async def run_migrations_online() -> None:
    url = database_url()
    ensure_sqlite_directory(url)
    # Through PgBouncer in transaction mode: no named prepared statements (as the app's
    # engine, core/database.py). The advisory lock above is transaction-scoped, so it holds.
    pooled = url.startswith("postgresql") and load_database_settings_or_exit().db_transaction_pooler
    connect_args = {"statement_cache_size": 0} if pooled else {}
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
