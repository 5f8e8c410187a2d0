"""PostgreSQL: the server check, throwaway databases and the DSNs that point at them."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

ADMIN_DSN_ENV = "BENCH_PG_DSN"
DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


class DatabaseUnavailable(Exception):
    """PostgreSQL does not answer at the configured DSN."""


def admin_dsn() -> str:
    """A DSN of a maintenance database (CREATE/DROP DATABASE run there)."""
    return os.environ.get(ADMIN_DSN_ENV, DEFAULT_ADMIN_DSN)


def database_dsn(admin: str, database: str, driver: str = "postgresql") -> str:
    """`admin` pointed at another database, with another driver name if asked."""
    url = make_url(admin).set(database=database, drivername=driver)
    return url.render_as_string(hide_password=False)


def fresh_name(prefix: str) -> str:
    """A database name no other run (or engineer) is using: prefix plus random hex."""
    return f"{prefix}_{secrets.token_hex(4)}"


def _quoted(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name: {name!r}")
    return f'"{name}"'


@asynccontextmanager
async def _connection(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    try:
        connection = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}") from exc
    try:
        yield connection
    finally:
        await connection.close()


async def _execute(dsn: str, sql: str) -> None:
    async with _connection(dsn) as connection:
        await connection.execute(sql)


async def _server_version(dsn: str) -> str:
    async with _connection(dsn) as connection:
        return str(await connection.fetchval("SHOW server_version"))


def server_version(admin: str) -> str:
    """PostgreSQL's version; DatabaseUnavailable when it does not answer."""
    return asyncio.run(_server_version(admin))


def create_database(admin: str, name: str) -> None:
    asyncio.run(_execute(admin, f"CREATE DATABASE {_quoted(name)}"))


def drop_database(admin: str, name: str) -> None:
    """Drop it even if a server process still holds a connection (PostgreSQL >= 13)."""
    asyncio.run(_execute(admin, f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)"))
