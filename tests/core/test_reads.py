"""The fast read path (core.reads): hot reads in the fewest statements, outside any transaction,
with the answers the ORM path gave."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from storefront.products.models import Product
from tests.support.factories import ProductFactory, TestUser
from tests.support.rows import record_statements

TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|START TRANSACTION)", re.IGNORECASE)


async def _order(client: AsyncClient, user: TestUser, product: Product) -> str:
    body = {"items": [{"product_id": str(product.id), "quantity": 1}]}
    response = await client.post("/api/v1/orders", json=body, headers=user.headers)
    assert response.status_code == 201
    order_id: str = response.json()["id"]
    return order_id


async def test_hot_reads_send_no_transaction_control_and_few_statements(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    make_product: ProductFactory,
    is_postgres: bool,
) -> None:
    product = await make_product()
    order_id = await _order(client, customer, product)
    # route -> statements on PostgreSQL (the user row, then one read); SQLite reads an order's
    # lines and history with statements of their own.
    reads = {
        "/api/v1/users/me": (1, 1),
        "/api/v1/products?limit=20": (1, 1),
        f"/api/v1/products/{product.id}": (1, 1),
        "/api/v1/orders?limit=20": (2, 4),
        f"/api/v1/orders/{order_id}": (2, 4),
    }
    for path, (on_postgres, on_sqlite) in reads.items():
        async with record_statements(app) as statements:
            response = await client.get(path, headers=customer.headers)

        assert response.status_code == 200, path
        assert not [s for s in statements if TRANSACTION_CONTROL.match(s)], (path, statements)
        assert len(statements) == (on_postgres if is_postgres else on_sqlite), (path, statements)


@pytest.mark.postgres
async def test_a_write_still_runs_in_one_transaction(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    """The counter sees transaction control where there is some: the write path is unchanged."""
    product = await make_product()
    async with record_statements(app) as statements:
        await _order(client, customer, product)

    control = [s.strip(" ;").upper() for s in statements if TRANSACTION_CONTROL.match(s)]
    assert control == ["BEGIN", "COMMIT"]
