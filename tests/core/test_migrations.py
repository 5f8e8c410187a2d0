"""Migrations: a full round trip, and replicas migrating at the same time (PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command

from storefront.core.migrations import PROJECT_ROOT, alembic_config, head_revisions
from tests.support.environment import (
    PG_URL,
    create_test_database,
    drop_test_database,
    subprocess_environment,
)


def test_round_trip_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'round.db'}"
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.check(config)  # models and migrations agree
    command.downgrade(config, "base")
    command.upgrade(config, "head")


@pytest.mark.postgres
def test_concurrent_upgrades_wait_for_each_other() -> None:
    assert PG_URL is not None
    url = create_test_database(PG_URL)
    try:
        clean = subprocess_environment()
        # As an init container runs it: production, and the database URL is all it is given.
        env = {**clean, "STOREFRONT_ENVIRONMENT": "production", "STOREFRONT_DATABASE_URL": url}
        runners = [
            subprocess.Popen(
                [sys.executable, "-m", "alembic", "upgrade", "head"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [runner.communicate(timeout=120)[0] for runner in runners]
        assert [runner.returncode for runner in runners] == [0, 0], outputs
        # The schema was built once: exactly one runner ran the first revision.
        ran_baseline = [out for out in outputs if "Running upgrade  -> 0001_baseline" in out]
        assert len(ran_baseline) == 1, outputs
        import asyncio

        import asyncpg

        async def versions() -> set[str]:
            dsn = url.replace("postgresql+asyncpg://", "postgresql://")
            connection = await asyncpg.connect(dsn)
            try:
                rows = await connection.fetch("SELECT version_num FROM alembic_version")
            finally:
                await connection.close()
            return {row["version_num"] for row in rows}

        assert asyncio.run(versions()) == set(head_revisions())
    finally:
        drop_test_database(url)
