"""`storefront purge`: what goes, what stays, reuse detection afterwards, and purges running
on two replicas at once while clients keep logging in, refreshing and ordering."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth.models import OneTimeToken, RefreshToken, TokenPurpose
from storefront.core.config import Settings
from storefront.core.database import create_database, utcnow
from storefront.housekeeping import GRACE, PurgeReport, purge_database
from storefront.orders import idempotency as orders_idempotency
from storefront.orders.models import IdempotencyRecord, Order
from storefront.products.models import Product
from storefront.users.models import User
from tests.support.assertions import assert_error
from tests.support.clients import LOGOUT_ALL, ME, bearer, login, order_body, refresh
from tests.support.environment import make_settings
from tests.support.factories import ProductFactory, TestUser, UserFactory
from tests.support.servers import run_cli

ORDERS = "/api/v1/orders"
LONG_AGO = GRACE + timedelta(minutes=30)  # past the grace period
LATELY = timedelta(minutes=5)  # within it
DAY = timedelta(days=1)


@dataclass
class Seeded:
    """Rows a purge must remove (`dead`) and rows it must keep (`kept`), by table."""

    dead: dict[str, set[object]]
    kept: dict[str, set[object]]


async def add_family(
    db: AsyncSession,
    user_id: uuid.UUID,
    *,
    expires: list[timedelta],
    revoked: timedelta | None = None,
) -> set[uuid.UUID]:
    """A session whose tokens expire at now + each of `expires` (in issue order), each but the
    last used and pointing at the next, as rotations leave them; all revoked `revoked` ago."""
    now = utcnow()
    family_id = uuid.uuid4()
    login_at = now + expires[0] - 30 * DAY
    tokens = [
        RefreshToken(
            id=uuid.uuid4(),
            user_id=user_id,
            family_id=family_id,
            login_at=login_at,
            token_hash=uuid.uuid4().hex + uuid.uuid4().hex,
            expires_at=now + expiry,
            created_at=now + expiry - 30 * DAY,
            revoked_at=None if revoked is None else now - revoked,
        )
        for expiry in expires
    ]
    db.add_all(tokens)
    await db.flush()
    for token, successor in itertools.pairwise(tokens):
        token.used_at = successor.created_at
        token.replaced_by_id = successor.id
    await db.flush()
    return {token.id for token in tokens}


async def add_one_time_token(
    db: AsyncSession, user: User, *, expires: timedelta, used: timedelta | None = None
) -> uuid.UUID:
    now = utcnow()
    token = OneTimeToken(
        id=uuid.uuid4(),
        user_id=user.id,
        email=user.email,
        purpose=TokenPurpose.PASSWORD_RESET.value,
        token_hash=uuid.uuid4().hex + uuid.uuid4().hex,
        expires_at=now + expires,
        used_at=None if used is None else now - used,
    )
    db.add(token)
    await db.flush()
    return token.id


async def add_idempotency_record(db: AsyncSession, user_id: uuid.UUID, *, age: timedelta) -> str:
    key = f"key-{uuid.uuid4().hex}"
    db.add(
        IdempotencyRecord(
            user_id=user_id,
            key=key,
            fingerprint="0" * 64,
            status_code=201,
            response_body="{}",
            created_at=utcnow() - age,
        )
    )
    await db.flush()
    return key


async def seed(db: AsyncSession, user: User, copies: int = 1) -> Seeded:
    user_id = user.id
    dead: dict[str, set[object]] = {"refresh": set(), "one_time": set(), "idempotency": set()}
    kept: dict[str, set[object]] = {"refresh": set(), "one_time": set(), "idempotency": set()}
    for _ in range(copies):
        # Sessions that ended more than the grace period ago: expired, revoked, or both.
        dead["refresh"] |= await add_family(db, user_id, expires=[-3 * DAY, -LONG_AGO])
        dead["refresh"] |= await add_family(db, user_id, expires=[DAY, 2 * DAY], revoked=LONG_AGO)
        dead["refresh"] |= await add_family(db, user_id, expires=[-DAY, -LONG_AGO, -LONG_AGO])
        # A session in force keeps every token, its long-expired rotated ones included.
        kept["refresh"] |= await add_family(db, user_id, expires=[-9 * DAY, -DAY, 20 * DAY])
        # Sessions that ended within the grace period.
        kept["refresh"] |= await add_family(db, user_id, expires=[-DAY, -LATELY])
        kept["refresh"] |= await add_family(db, user_id, expires=[DAY], revoked=LATELY)

        dead["one_time"].add(await add_one_time_token(db, user, expires=-LONG_AGO))
        dead["one_time"].add(await add_one_time_token(db, user, expires=DAY, used=LONG_AGO))
        kept["one_time"].add(await add_one_time_token(db, user, expires=DAY))
        kept["one_time"].add(await add_one_time_token(db, user, expires=DAY, used=LATELY))
        kept["one_time"].add(await add_one_time_token(db, user, expires=-LATELY))

        dead["idempotency"].add(
            await add_idempotency_record(db, user_id, age=25 * timedelta(hours=1))
        )
        kept["idempotency"].add(
            await add_idempotency_record(db, user_id, age=23 * timedelta(hours=1))
        )
    await db.commit()
    return Seeded(dead, kept)


async def remaining(app: FastAPI) -> dict[str, set[object]]:
    async with app.state.database.sessionmaker() as session:
        return {
            "refresh": set(await session.scalars(select(RefreshToken.id))),
            "one_time": set(await session.scalars(select(OneTimeToken.id))),
            "idempotency": set(await session.scalars(select(IdempotencyRecord.key))),
        }


def counts(report: PurgeReport) -> tuple[int, int, int]:
    return (report.refresh_tokens, report.one_time_tokens, report.idempotency_records)


async def test_purge_removes_what_no_request_can_use_and_keeps_the_rest(
    app: FastAPI, db: AsyncSession, customer: TestUser
) -> None:
    seeded = await seed(db, customer.user, copies=3)

    # Batches of 2: sessions split across batches, pages of families, keyset pages.
    report = await purge_database(app.state.database, batch_size=2)
    again = await purge_database(app.state.database, batch_size=2)

    left = await remaining(app)
    assert counts(report) == (
        len(seeded.dead["refresh"]),
        len(seeded.dead["one_time"]),
        len(seeded.dead["idempotency"]),
    )
    assert counts(again) == (0, 0, 0)
    for table in ("refresh", "one_time", "idempotency"):
        assert left[table] == seeded.kept[table], table


async def test_a_rotated_token_of_a_live_session_is_still_reuse_after_a_purge(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    session = await login(client, customer.email)
    rotated = await refresh(client, session.refresh_token)
    assert rotated.status_code == 200
    async with app.state.database.sessionmaker() as db:
        # The first token of this session expired long ago; the session is still in force.
        await db.execute(
            update(RefreshToken)
            .where(RefreshToken.used_at.is_not(None))
            .values(expires_at=utcnow() - 2 * DAY)
        )
        await db.commit()

    report = await purge_database(app.state.database, batch_size=10)
    reused = await refresh(client, session.refresh_token)
    newest = await refresh(client, rotated.json()["refresh_token"])

    assert report.refresh_tokens == 0
    assert_error(reused, 401, "UNAUTHORIZED")
    # Reuse was recognised: the whole session ended, its newest token included.
    assert_error(newest, 401, "UNAUTHORIZED")


async def test_purge_beside_traffic_on_two_replicas_removes_each_row_once(
    app: FastAPI,
    client: AsyncClient,
    settings: Settings,
    db: AsyncSession,
    make_user: UserFactory,
    make_product: ProductFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The purge under test is the job's: the one inside POST /orders (2% of keyed orders)
    # would take some of its rows and make the totals a matter of chance.
    monkeypatch.setattr(orders_idempotency, "PURGE_PROBABILITY", 0.0)
    product = await make_product(stock=1000)
    owner = await make_user()
    seeded = await seed(db, owner.user, copies=15)
    users = [await make_user() for _ in range(3)]
    # Two replicas' purge jobs, each with its own connection pool, in small batches.
    replicas = [create_database(settings), create_database(settings)]
    try:
        reports, statuses = await asyncio.gather(
            asyncio.gather(*(purge_database(r, batch_size=3) for r in replicas)),
            traffic(client, users, product),
        )
    finally:
        for replica in replicas:
            await replica.dispose()

    left = await remaining(app)
    assert sum(counts(r)[0] for r in reports) == len(seeded.dead["refresh"])
    assert sum(counts(r)[1] for r in reports) == len(seeded.dead["one_time"])
    assert sum(counts(r)[2] for r in reports) == len(seeded.dead["idempotency"])
    assert seeded.kept["refresh"] <= left["refresh"]
    assert not seeded.dead["refresh"] & left["refresh"]
    assert left["one_time"] == seeded.kept["one_time"]
    assert seeded.kept["idempotency"] <= left["idempotency"]
    assert not seeded.dead["idempotency"] & left["idempotency"]
    assert statuses == expected_statuses(len(users))
    orders = await db.scalar(select(func.count()).select_from(Order))
    assert orders == len(users) * 3


async def traffic(client: AsyncClient, users: list[TestUser], product: Product) -> list[int]:
    """What clients do meanwhile: log in, refresh, order (and retry), log out everywhere."""
    return [
        status
        for statuses in await asyncio.gather(*(one_client(client, user, product) for user in users))
        for status in statuses
    ]


async def one_client(client: AsyncClient, user: TestUser, product: Product) -> list[int]:
    statuses = []
    session = await login(client, user.email)
    token = session.refresh_token
    for attempt in range(3):
        rotated = await refresh(client, token)
        statuses.append(rotated.status_code)
        token = rotated.json()["refresh_token"]
        headers = {**bearer(rotated.json()["access_token"]), "Idempotency-Key": f"k{attempt}"}
        body = order_body((product, 1))
        statuses.append((await client.post(ORDERS, json=body, headers=headers)).status_code)
        replay = await client.post(ORDERS, json=body, headers=headers)
        replayed = replay.headers.get("Idempotent-Replayed") == "true"
        statuses.append(replay.status_code if replayed else 0)
    access = bearer(rotated.json()["access_token"])
    statuses.append((await client.post(LOGOUT_ALL, headers=access)).status_code)
    statuses.append((await client.get(ME, headers=access)).status_code)
    return statuses


def expected_statuses(clients: int) -> list[int]:
    return [*[200, 201, 201] * 3, 204, 401] * clients


async def test_purge_command_prints_what_it_removed(
    tmp_path: Path, fresh_database_url: str
) -> None:
    settings = make_settings(fresh_database_url)
    database = create_database(settings)
    try:
        async with database.sessionmaker() as db:
            user = User(email="old@example.com", full_name="Old", password_hash="x")
            db.add(user)
            await db.flush()
            await seed(db, user)
    finally:
        await database.dispose()

    result = run_cli(
        "purge",
        "--batch-size",
        "1",
        env={"STOREFRONT_DATABASE_URL": fresh_database_url, "STOREFRONT_LOG_FORMAT": "json"},
        cwd=tmp_path,
    )
    second = run_cli("purge", env={"STOREFRONT_DATABASE_URL": fresh_database_url}, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "purged refresh_tokens=7 one_time_tokens=2 idempotency_records=1"
    )
    assert second.stdout.splitlines()[-1] == (
        "purged refresh_tokens=0 one_time_tokens=0 idempotency_records=0"
    )


@pytest.mark.parametrize("batch_size", ["0", "10001", "many"])
def test_a_bad_batch_size_is_refused_before_anything_is_deleted(
    tmp_path: Path, batch_size: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'untouched.db'}"

    result = run_cli("purge", "--batch-size", batch_size, env={"STOREFRONT_DATABASE_URL": url})

    assert result.returncode == 2
    assert f"must be between 1 and 10000, not {batch_size}" in result.stderr
    assert not (tmp_path / "untouched.db").exists()
