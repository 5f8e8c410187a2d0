"""POST /orders: validation, copied prices, all-or-nothing stock."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.orders.models import Order, OrderHistory, OrderLine
from tests.support.clients import order_body
from tests.support.factories import ProductFactory, TestUser
from tests.support.rows import products_state, stock_of, table_counts

URL = "/api/v1/orders"
ORDER_KEYS = {
    "id",
    "user_id",
    "status",
    "currency",
    "items",
    "total_cents",
    "history",
    "created_at",
    "updated_at",
}
EMPTY = {"orders": 0, "order_lines": 0, "order_history": 0, "idempotency_keys": 0}


async def test_place_an_order(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    make_product: ProductFactory,
    db: AsyncSession,
) -> None:
    mug = await make_product(sku="MUG-1", name="Mug", price_cents=1290, stock=10)
    pen = await make_product(sku="PEN-1", name="Pen", price_cents=250, stock=5)
    # Given in an order unrelated to the ids: the answer keeps the given order.
    lines = sorted([(mug, 3), (pen, 5)], key=lambda line: line[0].id, reverse=True)

    response = await client.post(URL, json=order_body(*lines), headers=customer.headers)

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert "Idempotent-Replayed" not in response.headers
    body = response.json()
    assert set(body) == ORDER_KEYS
    assert body["user_id"] == str(customer.id)
    assert body["status"] == "pending"
    assert body["currency"] == "EUR"
    expected_items = {
        mug.id: {
            "product_id": str(mug.id),
            "sku": "MUG-1",
            "name": "Mug",
            "unit_price_cents": 1290,
            "quantity": 3,
            "line_total_cents": 3870,
        },
        pen.id: {
            "product_id": str(pen.id),
            "sku": "PEN-1",
            "name": "Pen",
            "unit_price_cents": 250,
            "quantity": 5,
            "line_total_cents": 1250,
        },
    }
    assert body["items"] == [expected_items[p.id] for p, _ in lines]
    assert body["total_cents"] == 3870 + 1250
    assert body["history"] == [
        {"status": "pending", "at": body["created_at"], "actor_id": str(customer.id)}
    ]
    assert await stock_of(app, mug.id) == 7
    assert await stock_of(app, pen.id) == 0  # the last units can be bought

    order = await db.get(Order, uuid.UUID(body["id"]))
    assert order is not None
    assert (order.user_id, order.status, order.total_cents) == (customer.id, "pending", 5120)
    stored_lines = (
        await db.scalars(
            select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.position)
        )
    ).all()
    assert [(line.position, line.product_id) for line in stored_lines] == [
        (0, lines[0][0].id),
        (1, lines[1][0].id),
    ]
    history = (await db.scalars(select(OrderHistory))).all()
    assert [(h.status, h.actor_id) for h in history] == [("pending", customer.id)]
    fetched = await client.get(f"{URL}/{body['id']}", headers=customer.headers)
    assert fetched.json() == body


async def test_a_quantity_written_as_a_float_is_an_integer(
    client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=5)
    body = order_body((product, 1))
    body["items"][0]["quantity"] = 2.0  # the integer 2 to JSON Schema

    response = await client.post(URL, json=body, headers=customer.headers)

    assert response.status_code == 201
    assert response.json()["items"][0]["quantity"] == 2


async def test_prices_are_copied_at_order_time(
    client: AsyncClient,
    customer: TestUser,
    admin: TestUser,
    make_product: ProductFactory,
) -> None:
    product = await make_product(name="Lamp", price_cents=4000, stock=3)
    placed = await client.post(URL, json=order_body((product, 1)), headers=customer.headers)

    changed = await client.patch(
        f"/api/v1/admin/products/{product.id}",
        json={"price_cents": 9999, "name": "Renamed lamp", "sku": "LAMP-NEW"},
        headers=admin.headers,
    )
    fetched = await client.get(f"{URL}/{placed.json()['id']}", headers=customer.headers)

    assert changed.status_code == 200
    item = fetched.json()["items"][0]
    assert (item["unit_price_cents"], item["name"], item["sku"]) == (4000, "Lamp", product.sku)
    assert fetched.json()["total_cents"] == 4000


async def test_the_largest_order(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    products = [await make_product(price_cents=10**12, stock=1000) for _ in range(50)]

    response = await client.post(
        URL, json=order_body(*[(p, 1000) for p in products]), headers=customer.headers
    )

    assert response.status_code == 201
    assert len(response.json()["items"]) == 50
    assert response.json()["total_cents"] == 50 * 1000 * 10**12
    assert [await stock_of(app, p.id) for p in products[:3]] == [0, 0, 0]


async def test_insufficient_stock_takes_nothing_and_names_the_short_products(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    plenty = await make_product(stock=100)
    short = await make_product(stock=2)
    empty = await make_product(stock=0)
    before = await products_state(app)

    response = await client.post(
        URL, json=order_body((plenty, 5), (short, 3), (empty, 1)), headers=customer.headers
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "INSUFFICIENT_STOCK"
    assert sorted(error["details"]["products"], key=lambda p: p["available"]) == [
        {"product_id": str(empty.id), "requested": 1, "available": 0},
        {"product_id": str(short.id), "requested": 3, "available": 2},
    ]
    assert await products_state(app) == before  # plenty's 5 units were not kept either
    assert await table_counts(app) == EMPTY


async def test_unknown_and_inactive_products_are_422_on_their_line(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    good = await make_product(stock=10)
    inactive = await make_product(stock=10, is_active=False)
    before = await products_state(app)
    body = order_body((good, 1), (inactive, 1))
    body["items"].append({"product_id": str(uuid.uuid4()), "quantity": 1})

    response = await client.post(URL, json=body, headers=customer.headers)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [e["field"] for e in error["details"]["errors"]] == [
        "body.items.1.product_id",
        "body.items.2.product_id",
    ]
    assert await products_state(app) == before
    assert await table_counts(app) == EMPTY


async def test_one_currency_per_order(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    euro = await make_product(currency="EUR")
    dollar = await make_product(currency="USD")
    before = await products_state(app)

    response = await client.post(
        URL, json=order_body((euro, 1), (dollar, 1)), headers=customer.headers
    )

    assert response.status_code == 422
    errors = response.json()["error"]["details"]["errors"]
    assert errors == [
        {
            "field": "body.items.1.product_id",
            "message": "All items of an order must be in one currency (EUR)",
            "type": "currency_mismatch",
        }
    ]
    assert await products_state(app) == before
    assert await table_counts(app) == EMPTY


async def test_a_product_at_most_once(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    product = await make_product()
    other = await make_product()
    before = await products_state(app)

    response = await client.post(
        URL, json=order_body((product, 1), (other, 1), (product, 2)), headers=customer.headers
    )

    assert response.status_code == 422
    errors = response.json()["error"]["details"]["errors"]
    assert [(e["field"], e["type"]) for e in errors] == [
        ("body.items.2.product_id", "duplicate_product")
    ]
    assert await products_state(app) == before
    assert await table_counts(app) == EMPTY


BAD_ITEM_VALUES: list[tuple[str, Any, str]] = [
    ("quantity", 0, "body.items.0.quantity"),
    ("quantity", -1, "body.items.0.quantity"),
    ("quantity", 1001, "body.items.0.quantity"),
    ("quantity", 10**30, "body.items.0.quantity"),
    ("quantity", 1.5, "body.items.0.quantity"),
    ("quantity", "2", "body.items.0.quantity"),
    ("quantity", True, "body.items.0.quantity"),
    ("quantity", None, "body.items.0.quantity"),
    ("product_id", "not-a-uuid", "body.items.0.product_id"),
    ("product_id", 123, "body.items.0.product_id"),
    ("product_id", None, "body.items.0.product_id"),
    ("price_cents", 1, "body.items.0.price_cents"),  # unknown field on a line
]


@pytest.mark.parametrize(("key", "value", "field"), BAD_ITEM_VALUES)
async def test_bad_lines_are_422(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    make_product: ProductFactory,
    key: str,
    value: Any,
    field: str,
) -> None:
    product = await make_product()
    before = await products_state(app)
    body = order_body((product, 1))
    body["items"][0][key] = value

    response = await client.post(URL, json=body, headers=customer.headers)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in [e["field"] for e in error["details"]["errors"]]
    assert await products_state(app) == before
    assert await table_counts(app) == EMPTY


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.items"),
        ({"items": []}, "body.items"),
        ({"items": None}, "body.items"),
        ({"items": "everything"}, "body.items"),
        ({"items": [{"quantity": 1}]}, "body.items.0.product_id"),
        (
            {"items": [{"product_id": "00000000-0000-0000-0000-000000000001"}]},
            "body.items.0.quantity",
        ),
        ({"items": [], "user_id": "00000000-0000-0000-0000-000000000001"}, "body.user_id"),
        ({"items": [], "status": "paid"}, "body.status"),
    ],
)
async def test_bad_bodies_are_422(
    app: FastAPI, client: AsyncClient, customer: TestUser, body: Any, field: str
) -> None:
    response = await client.post(URL, json=body, headers=customer.headers)

    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["error"]["details"]["errors"]]
    assert await table_counts(app) == EMPTY


async def test_more_than_50_lines_is_422(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    products = [await make_product() for _ in range(51)]
    before = await products_state(app)

    response = await client.post(
        URL, json=order_body(*[(p, 1) for p in products]), headers=customer.headers
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["field"] == "body.items"
    assert await products_state(app) == before
    assert await table_counts(app) == EMPTY


async def test_needs_a_json_body_and_a_user(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    product = await make_product()
    before = await products_state(app)

    text = await client.post(
        URL,
        content=f'{{"items": [{{"product_id": "{product.id}", "quantity": 1}}]}}',
        headers={**customer.headers, "Content-Type": "text/plain"},
    )
    form = await client.post(URL, data={"items": "x"}, headers=customer.headers)
    anonymous = await client.post(URL, json=order_body((product, 1)))

    assert text.status_code == 415
    assert text.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert form.status_code == 415
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "UNAUTHORIZED"
    assert await products_state(app) == before
    assert await table_counts(app) == EMPTY
