"""How the suite runs: the test database server, the settings every test app starts from,
and the environment a subprocess of the suite gets."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from storefront.core.config import Settings

PG_URL = os.environ.get("STOREFRONT_TEST_DATABASE_URL")


# How the suite reaches its database server (one CI leg goes through PgBouncer in transaction
# mode): subprocesses, which get none of the other STOREFRONT_* variables, need it too.
DATABASE_ACCESS_VARIABLES = frozenset({"STOREFRONT_DB_TRANSACTION_POOLER"})


TEST_SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnop"


CLIENT_IP = "203.0.113.7"  # the transport's peer: not a trusted proxy


DEFAULT_PASSWORD = "correct horse battery staple"


def subprocess_environment() -> dict[str, str]:
    """This process's environment without the STOREFRONT_* settings (a test names the ones
    its subprocess gets), except how to reach the test database server."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("STOREFRONT_") or name in DATABASE_ACCESS_VARIABLES
    }


async def _admin_execute(server_url: str, statement: str) -> None:
    url = make_url(server_url).set(drivername="postgresql", database="postgres")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_test_database(server_url: str) -> str:
    """A new, migrated PostgreSQL database on the server of `server_url`; its URL."""
    name = f"storefront_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin_execute(server_url, f'CREATE DATABASE "{name}"'))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_test_database(url: str) -> None:
    name = make_url(url).database
    asyncio.run(_admin_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# This run's own password-hashing slots, so that it shares no bound with other runs or with
# servers on the same machine.
HASHING_LOCK_DIR = Path(tempfile.mkdtemp(prefix="storefront-test-hashing-"))


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "password_hashing_lock_dir": HASHING_LOCK_DIR,
        "environment": "test",
        "database_url": database_url,
        "secret_key": TEST_SECRET_KEY,
        "bcrypt_rounds": 4,
        "email_backend": "memory",
        "log_format": "json",
        "rate_limit_storage_uri": "memory://",
        "db_pool_timeout": 2.0,
        "db_connect_timeout": 1.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
