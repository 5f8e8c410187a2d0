"""A storm of password checks at the real bcrypt cost never costs other requests their
database connection (PostgreSQL, a pool of two, real concurrency).

Every check reads what it needs, gives its connection back, and only then waits for the
hasher; the hasher takes a bounded queue and refuses the rest at once with 503. Before that,
twenty queued checks held the pool, and every bystander waited `DB_POOL_TIMEOUT` for a 503.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from tests.support.clients import LOGIN, ME, make_client
from tests.support.factories import AppFactory, TestUser, UserFactory

pytestmark = pytest.mark.postgres

STORM = 20
POOL_TIMEOUT = 2.0

Attempt = Callable[[FastAPI, TestUser, int], Awaitable[Response]]


async def _wrong_login(app: FastAPI, target: TestUser, number: int) -> Response:
    email = target.email if number % 2 else f"{uuid.uuid4().hex}@example.com"
    async with make_client(app, client_ip=f"198.51.100.{number}") as attacker:
        return await attacker.post(LOGIN, json={"email": email, "password": f"guess {number}"})


async def _wrong_current_password(app: FastAPI, target: TestUser, number: int) -> Response:
    async with make_client(app) as attacker:
        return await attacker.request(
            "DELETE", ME, json={"current_password": f"guess {number}"}, headers=target.headers
        )


async def _bystander_reads(client: AsyncClient, reader: TestUser) -> list[tuple[int, float]]:
    """Sequential reads, as a user browsing: each one's status and seconds."""
    answers = []
    for path in ["/api/v1/products", ME] * 5:
        started = time.perf_counter()
        response = await client.get(path, headers=reader.headers)
        answers.append((response.status_code, time.perf_counter() - started))
    return answers


@pytest.mark.parametrize(
    "attempt", [_wrong_login, _wrong_current_password], ids=["logins", "current-passwords"]
)
async def test_a_storm_of_wrong_passwords_leaves_other_requests_alone(
    make_app_with: AppFactory, make_user: UserFactory, attempt: Attempt
) -> None:
    app = await make_app_with(
        bcrypt_rounds=12,
        db_pool_size=2,
        db_max_overflow=0,
        db_pool_timeout=POOL_TIMEOUT,
        rate_limit_enabled=False,
        password_hashing_concurrency=1,
        password_hashing_queue=4,
    )
    hasher = app.state.password_hasher
    target = await make_user()
    async with app.state.database.sessionmaker() as session:  # a cost-12 hash to check against
        stored = await session.get(type(target.user), target.id)
        assert stored is not None
        stored.password_hash = await hasher.hash("the real password")
        await session.commit()
    reader = await make_user()

    async with make_client(app, client_ip="192.0.2.200") as bystander:
        storm = asyncio.gather(*(attempt(app, target, n) for n in range(STORM)))
        await asyncio.sleep(0.05)  # the storm is queued at the hasher
        reads = await _bystander_reads(bystander, reader)
        answers = await storm

    assert [status for status, _ in reads] == [200] * len(reads)
    # No read waited for a pooled connection: that wait alone is POOL_TIMEOUT.
    assert max(seconds for _, seconds in reads) < POOL_TIMEOUT / 2
    refused = [a for a in answers if a.status_code == 503]
    assert {a.status_code for a in answers} <= {401, 403, 503}
    assert refused, "the hashing queue is bounded: a storm this size is partly refused"
    assert all(a.json()["error"]["code"] == "SERVICE_UNAVAILABLE" for a in refused)
    assert all(int(a.headers["retry-after"]) >= 1 for a in refused)
