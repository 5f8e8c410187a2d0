"""Idempotency-Key on POST /orders: replay, mismatch, scope, what is (not) kept, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.database import utcnow
from storefront.orders import service
from storefront.orders.models import IdempotencyRecord, Order
from storefront.products.models import Product
from tests import conftest as harness
from tests.orders.conftest import order_body, table_counts
from tests.products.factories import ProductFactory, products_state, stock_of

URL = "/api/v1/orders"


def keyed(user: harness.TestUser, key: str | bytes) -> list[tuple[bytes, bytes]]:
    raw = key if isinstance(key, bytes) else key.encode("latin-1")
    return [(k.encode(), v.encode()) for k, v in user.headers.items()] + [(b"Idempotency-Key", raw)]


async def test_a_retry_replays_the_first_answer_and_creates_nothing(
    app: FastAPI, client: AsyncClient, customer: harness.TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=10)
    body = order_body((product, 2))

    first = await client.post(URL, json=body, headers=keyed(customer, "order-1"))
    second = await client.post(URL, json=body, headers=keyed(customer, "order-1"))

    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["content-type"] == "application/json"
    assert second.content == first.content
    assert await stock_of(app, product.id) == 8
    counts = await table_counts(app)
    assert (counts["orders"], counts["order_lines"], counts["idempotency_keys"]) == (1, 1, 1)


async def test_the_replay_is_the_first_answer_even_after_the_order_changed(
    client: AsyncClient,
    customer: harness.TestUser,
    admin: harness.TestUser,
    make_product: ProductFactory,
) -> None:
    product = await make_product(stock=10)
    body = order_body((product, 1))
    first = await client.post(URL, json=body, headers=keyed(customer, "k"))
    await client.post(
        f"/api/v1/admin/orders/{first.json()['id']}/status",
        json={"status": "paid"},
        headers=admin.headers,
    )

    replay = await client.post(URL, json=body, headers=keyed(customer, "k"))

    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.json()["status"] == "pending"


async def test_the_same_key_with_another_body_is_422(
    app: FastAPI, client: AsyncClient, customer: harness.TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=10)
    await client.post(URL, json=order_body((product, 1)), headers=keyed(customer, "k"))
    before = (await products_state(app), await table_counts(app))

    response = await client.post(URL, json=order_body((product, 2)), headers=keyed(customer, "k"))

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "IDEMPOTENCY_KEY_MISMATCH"
    assert error["details"]["errors"][0]["field"] == "header.Idempotency-Key"
    assert "Idempotent-Replayed" not in response.headers
    assert (await products_state(app), await table_counts(app)) == before


async def test_keys_are_scoped_per_user(
    app: FastAPI,
    client: AsyncClient,
    customer: harness.TestUser,
    make_user: harness.UserFactory,
    make_product: ProductFactory,
) -> None:
    other = await make_user()
    product = await make_product(stock=10)
    body = order_body((product, 1))

    mine = await client.post(URL, json=body, headers=keyed(customer, "shared-key"))
    theirs = await client.post(URL, json=body, headers=keyed(other, "shared-key"))

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["user_id"] == str(other.id)
    assert (await table_counts(app))["idempotency_keys"] == 2
    assert await stock_of(app, product.id) == 8


async def test_without_a_key_every_request_is_a_new_order(
    app: FastAPI, client: AsyncClient, customer: harness.TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=10)
    body = order_body((product, 1))

    first = await client.post(URL, json=body, headers=customer.headers)
    second = await client.post(URL, json=body, headers=customer.headers)

    assert first.json()["id"] != second.json()["id"]
    assert (await table_counts(app))["idempotency_keys"] == 0
    assert await stock_of(app, product.id) == 8


async def test_a_refused_request_keeps_no_key_so_a_retry_can_succeed(
    app: FastAPI, client: AsyncClient, customer: harness.TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=1)
    body = order_body((product, 2))

    short = await client.post(URL, json=body, headers=keyed(customer, "retry-me"))
    assert short.status_code == 409
    assert await table_counts(app) == {
        "orders": 0,
        "order_lines": 0,
        "order_history": 0,
        "idempotency_keys": 0,
    }
    async with app.state.database.sessionmaker() as session:
        await session.execute(update(Product).where(Product.id == product.id).values(stock=5))
        await session.commit()

    retried = await client.post(URL, json=body, headers=keyed(customer, "retry-me"))

    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert await stock_of(app, product.id) == 3


async def test_a_422_keeps_no_key(
    app: FastAPI, client: AsyncClient, customer: harness.TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=5, is_active=False)
    body = order_body((product, 1))

    refused = await client.post(URL, json=body, headers=keyed(customer, "k"))
    async with app.state.database.sessionmaker() as session:
        await session.execute(
            update(Product).where(Product.id == product.id).values(is_active=True)
        )
        await session.commit()
    accepted = await client.post(URL, json=body, headers=keyed(customer, "k"))

    assert refused.status_code == 422
    assert accepted.status_code == 201
    assert "Idempotent-Replayed" not in accepted.headers


@pytest.mark.parametrize(
    "key",
    [
        "",
        " ",
        "x" * 256,
        "tab\there",
        "new\x7fline",
        "caf\xe9".encode("latin-1"),
        " leading",
    ],
)
async def test_a_bad_key_is_422(
    app: FastAPI,
    client: AsyncClient,
    customer: harness.TestUser,
    make_product: ProductFactory,
    key: str | bytes,
) -> None:
    product = await make_product(stock=5)
    before = await products_state(app)

    response = await client.post(URL, json=order_body((product, 1)), headers=keyed(customer, key))

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["errors"][0]["field"] == "header.Idempotency-Key"
    assert await products_state(app) == before
    assert (await table_counts(app))["orders"] == 0


async def test_the_longest_and_oddest_printable_keys_work(
    client: AsyncClient, customer: harness.TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=5)
    for key in ("k" * 255, "a b!~{}\"'", "550e8400-e29b-41d4-a716-446655440000"):
        first = await client.post(URL, json=order_body((product, 1)), headers=keyed(customer, key))
        again = await client.post(URL, json=order_body((product, 1)), headers=keyed(customer, key))
        assert first.status_code == 201, key
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]


async def test_keys_expire_after_24_hours(
    app: FastAPI, client: AsyncClient, customer: harness.TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=10)
    body = order_body((product, 1))
    first = await client.post(URL, json=body, headers=keyed(customer, "old"))
    async with app.state.database.sessionmaker() as session:
        # 23 hours: still replayed.
        await session.execute(
            update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=23))
        )
        await session.commit()
    kept = await client.post(URL, json=body, headers=keyed(customer, "old"))
    async with app.state.database.sessionmaker() as session:
        await session.execute(
            update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=25))
        )
        await session.commit()

    expired = await client.post(URL, json=body, headers=keyed(customer, "old"))

    assert kept.headers["Idempotent-Replayed"] == "true"
    assert expired.status_code == 201
    assert "Idempotent-Replayed" not in expired.headers
    assert expired.json()["id"] != first.json()["id"]
    counts = await table_counts(app)
    assert (counts["orders"], counts["idempotency_keys"]) == (2, 1)


async def test_purge_removes_only_expired_keys(
    app: FastAPI,
    client: AsyncClient,
    customer: harness.TestUser,
    make_product: ProductFactory,
    db: AsyncSession,
) -> None:
    product = await make_product(stock=10)
    for key in ("fresh", "stale"):
        await client.post(URL, json=order_body((product, 1)), headers=keyed(customer, key))
    await db.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == "stale")
        .values(created_at=utcnow() - timedelta(hours=25))
    )
    await db.commit()

    assert await service.purge_expired_idempotency_keys(db, limit=10) == 1
    await db.commit()

    assert (await db.scalars(select(IdempotencyRecord.key))).all() == ["fresh"]
    assert len((await db.scalars(select(Order.id))).all()) == 2  # orders are kept


@pytest.mark.postgres
async def test_a_key_whose_request_is_still_running_is_409(
    app: FastAPI, client: AsyncClient, customer: harness.TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=10)
    body = order_body((product, 1))
    lock_id = service.idempotency_lock_id(customer.id, "busy")
    # Another transaction holds the key's lock, as a request in flight would.
    async with app.state.database.engine.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id})
        busy = await client.post(URL, json=body, headers=keyed(customer, "busy"))
        await holder.rollback()
    after = await client.post(URL, json=body, headers=keyed(customer, "busy"))

    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS"
    assert after.status_code == 201
    assert "Idempotent-Replayed" not in after.headers
    assert await stock_of(app, product.id) == 9
    assert (await table_counts(app))["orders"] == 1
