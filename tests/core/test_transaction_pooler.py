"""STOREFRONT_DB_TRANSACTION_POOLER: no prepared statement outlives its round trip, so the next
transaction may run on another server connection (PgBouncer, `pool_mode = transaction`).

The behaviour behind PgBouncer itself is checked by CI's PgBouncer leg, which runs the suite
through one; this test shows what the setting changes on any PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import literal, select, text

from storefront.core.database import create_database
from storefront.users.models import User
from tests.support.environment import make_settings


@pytest.mark.postgres
@pytest.mark.parametrize(("pooler", "left_on_the_server"), [(False, 1), (True, 0)])
async def test_behind_a_transaction_pooler_statements_are_not_left_on_the_connection(
    database_url: str, pooler: bool, left_on_the_server: int
) -> None:
    database = create_database(make_settings(database_url, db_transaction_pooler=pooler))
    marker = f"probe_{uuid.uuid4().hex}"
    try:
        async with database.sessionmaker() as session:  # one transaction: one server connection
            for _ in range(2):
                await session.execute(select(User.id, literal(1).label(marker)).limit(1))
            named = await session.scalar(
                text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :m"),
                {"m": f"%{marker}%"},
            )
    finally:
        await database.dispose()

    assert named == left_on_the_server
