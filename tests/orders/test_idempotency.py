"""Idempotency-Key on POST /orders: replay, mismatch, scope, what is (not) kept, expiry, purge,
and what a keyed order costs."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.database import utcnow
from storefront.orders import idempotency
from storefront.orders.models import IdempotencyRecord, Order
from storefront.orders.schemas import OrderCreate
from storefront.products.models import Product
from tests.support.clients import order_body
from tests.support.factories import ProductFactory, TestUser, UserFactory
from tests.support.rows import products_state, record_statements, stock_of, table_counts

URL = "/api/v1/orders"


def keyed(user: TestUser, key: str | bytes) -> list[tuple[bytes, bytes]]:
    raw = key if isinstance(key, bytes) else key.encode("latin-1")
    return [(k.encode(), v.encode()) for k, v in user.headers.items()] + [(b"Idempotency-Key", raw)]


async def test_a_retry_replays_the_first_answer_and_creates_nothing(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
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
    customer: TestUser,
    admin: TestUser,
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
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
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


async def test_the_same_request_written_differently_is_a_replay(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=10)
    first = await client.post(
        URL, json=order_body((product, 2)), headers=keyed(customer, "same-request")
    )
    # The same request: keys in another order, other spacing, `2.0` for `2`.
    rewritten = f'{{ "items" : [ {{"quantity": 2.0, "product_id": "{product.id}"}} ] }}'
    headers = [*keyed(customer, "same-request"), (b"Content-Type", b"application/json")]

    replay = await client.post(URL, content=rewritten, headers=headers)

    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == first.content
    assert await stock_of(app, product.id) == 8


def test_a_request_fingerprint_is_the_hash_of_its_canonical_json() -> None:
    # Kept keys are compared with the fingerprints of retries, which may reach a newer version
    # of the service (a rolling deploy): the fingerprint of a request must not change with it.
    product_id = uuid.UUID("0b4e8f4e-7c1a-4c55-9a8e-2f0d3c5b6a71")
    request = OrderCreate.model_validate(
        {"items": [{"quantity": 2, "product_id": str(product_id)}]}
    )
    canonical = f'{{"items":[{{"product_id":"{product_id}","quantity":2}}]}}'

    assert idempotency.fingerprint(request) == hashlib.sha256(canonical.encode()).hexdigest()


async def test_keys_are_scoped_per_user(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    make_user: UserFactory,
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
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=10)
    body = order_body((product, 1))

    first = await client.post(URL, json=body, headers=customer.headers)
    second = await client.post(URL, json=body, headers=customer.headers)

    assert first.json()["id"] != second.json()["id"]
    assert (await table_counts(app))["idempotency_keys"] == 0
    assert await stock_of(app, product.id) == 8


async def test_a_refused_request_keeps_no_key_so_a_retry_can_succeed(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
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
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
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
    customer: TestUser,
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
    client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=5)
    for key in ("k" * 255, "a b!~{}\"'", "550e8400-e29b-41d4-a716-446655440000"):
        first = await client.post(URL, json=order_body((product, 1)), headers=keyed(customer, key))
        again = await client.post(URL, json=order_body((product, 1)), headers=keyed(customer, key))
        assert first.status_code == 201, key
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]


async def test_keys_expire_after_24_hours(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
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


async def _a_fresh_and_a_stale_key(
    client: AsyncClient, customer: TestUser, product: Product, db: AsyncSession
) -> None:
    """Two keyed orders; the key `stale` made 25 hours ago, past its 24."""
    for key in ("fresh", "stale"):
        await client.post(URL, json=order_body((product, 1)), headers=keyed(customer, key))
    await db.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == "stale")
        .values(created_at=utcnow() - timedelta(hours=25))
    )
    await db.commit()


async def test_purge_removes_only_expired_keys(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    make_product: ProductFactory,
    db: AsyncSession,
) -> None:
    product = await make_product(stock=10)
    await _a_fresh_and_a_stale_key(client, customer, product, db)

    assert await idempotency.purge_expired(db, limit=10) == 1
    await db.commit()

    assert (await db.scalars(select(IdempotencyRecord.key))).all() == ["fresh"]
    assert len((await db.scalars(select(Order.id))).all()) == 2  # orders are kept


async def test_keyed_orders_purge_some_expired_keys_on_their_way(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    make_product: ProductFactory,
    db: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    product = await make_product(stock=10)
    await _a_fresh_and_a_stale_key(client, customer, product, db)
    # Every keyed order purges here (in production, a small share of them does).
    monkeypatch.setattr(idempotency, "PURGE_PROBABILITY", 1.0)

    unkeyed = await client.post(URL, json=order_body((product, 1)), headers=customer.headers)
    kept_meanwhile = set((await db.scalars(select(IdempotencyRecord.key))).all())
    await db.commit()
    new = await client.post(URL, json=order_body((product, 1)), headers=keyed(customer, "new"))

    assert (unkeyed.status_code, new.status_code) == (201, 201)
    assert kept_meanwhile == {"fresh", "stale"}
    assert set((await db.scalars(select(IdempotencyRecord.key))).all()) == {"fresh", "new"}


@pytest.mark.parametrize("key", [None, "k"])
async def test_an_order_takes_one_statement_per_line_and_a_few_more(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    make_product: ProductFactory,
    monkeypatch: pytest.MonkeyPatch,
    is_postgres: bool,
    key: str | None,
) -> None:
    monkeypatch.setattr(idempotency, "PURGE_PROBABILITY", 0.0)
    products = [await make_product(stock=5) for _ in range(3)]
    body = order_body(*((product, 1) for product in products))
    headers = customer.headers if key is None else keyed(customer, key)

    async with record_statements(app) as statements:
        placed = await client.post(URL, json=body, headers=headers)

    assert placed.status_code == 201
    # Besides an UPDATE per line. PostgreSQL: the user; BEGIN; if keyed, the key's lock and
    # look-up (one statement); one INSERT of every row, the key's included; COMMIT. SQLite:
    # the user; if keyed, the key's look-up; an INSERT per table.
    besides = {(True, False): 4, (True, True): 5, (False, False): 4, (False, True): 6}
    beyond_the_lines = besides[is_postgres, key is not None]
    assert len(statements) == len(products) + beyond_the_lines


@pytest.mark.postgres
async def test_a_key_whose_request_is_still_running_is_409(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=10)
    body = order_body((product, 1))
    lock_id = idempotency.lock_id(customer.id, "busy")
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
