"""The status machine: admin moves, owner cancellation, stock back, history with actors."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.support.clients import ordered_product, place_order
from tests.support.factories import ProductFactory, TestUser, UserFactory
from tests.support.rows import order_status, products_state, set_order_status, stock_of

URL = "/api/v1/orders"
ADMIN_URL = "/api/v1/admin/orders"
STATUSES = ["pending", "paid", "shipped", "delivered", "cancelled"]
ALLOWED = {
    ("pending", "paid"),
    ("paid", "shipped"),
    ("shipped", "delivered"),
    ("pending", "cancelled"),
    ("paid", "cancelled"),
}


async def test_admin_moves_an_order_along_the_machine(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    admin: TestUser,
    make_product: ProductFactory,
) -> None:
    order = await place_order(client, customer, make_product, quantity=3, stock=10)
    product_id = ordered_product(order)

    answers = []
    for status in ("paid", "shipped", "delivered"):
        response = await client.post(
            f"{ADMIN_URL}/{order['id']}/status", json={"status": status}, headers=admin.headers
        )
        assert response.status_code == 200
        answers.append(response.json())

    final = answers[-1]
    assert final["status"] == "delivered"
    assert [(h["status"], h["actor_id"]) for h in final["history"]] == [
        ("pending", str(customer.id)),
        ("paid", str(admin.id)),
        ("shipped", str(admin.id)),
        ("delivered", str(admin.id)),
    ]
    assert [h["at"] for h in final["history"]] == sorted(h["at"] for h in final["history"])
    assert final["updated_at"] == final["history"][-1]["at"]
    assert final["items"] == order["items"]
    assert await order_status(app, order["id"]) == ("delivered", 4)
    assert await stock_of(app, product_id) == 7  # shipping keeps the stock taken
    mine = await client.get(f"{URL}/{order['id']}", headers=customer.headers)
    assert mine.json() == final


@pytest.mark.parametrize(
    ("current", "target"),
    [(a, b) for a in STATUSES for b in STATUSES if (a, b) not in ALLOWED],
)
async def test_every_other_move_is_409(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    admin: TestUser,
    make_product: ProductFactory,
    current: str,
    target: str,
) -> None:
    order = await place_order(client, customer, make_product, quantity=3, stock=10)
    product_id = ordered_product(order)
    await set_order_status(app, order["id"], current)
    stock = await stock_of(app, product_id)

    response = await client.post(
        f"{ADMIN_URL}/{order['id']}/status", json={"status": target}, headers=admin.headers
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "INVALID_TRANSITION"
    assert error["details"] == {"from": current, "to": target}
    assert await order_status(app, order["id"]) == (current, 1)
    assert await stock_of(app, product_id) == stock


@pytest.mark.parametrize("current", ["pending", "paid"])
async def test_the_owner_cancels_and_the_stock_comes_back(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    make_product: ProductFactory,
    current: str,
) -> None:
    order = await place_order(client, customer, make_product, quantity=3, stock=10)
    product_id = ordered_product(order)
    await set_order_status(app, order["id"], current)
    assert await stock_of(app, product_id) == 7

    response = await client.post(f"{URL}/{order['id']}/cancel", headers=customer.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["history"][-1]["status"] == "cancelled"
    assert body["history"][-1]["actor_id"] == str(customer.id)
    assert await stock_of(app, product_id) == 10
    assert await order_status(app, order["id"]) == ("cancelled", 2)


@pytest.mark.parametrize("current", ["shipped", "delivered", "cancelled"])
async def test_the_owner_cannot_cancel_later(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    make_product: ProductFactory,
    current: str,
) -> None:
    order = await place_order(client, customer, make_product, quantity=3, stock=10)
    await set_order_status(app, order["id"], current)
    before = await products_state(app)

    response = await client.post(f"{URL}/{order['id']}/cancel", headers=customer.headers)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "INVALID_TRANSITION"
    assert await order_status(app, order["id"]) == (current, 1)
    assert await products_state(app) == before


async def test_cancelling_twice_returns_the_stock_once(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    order = await place_order(client, customer, make_product, quantity=3, stock=10)
    product_id = ordered_product(order)

    first = await client.post(f"{URL}/{order['id']}/cancel", headers=customer.headers)
    second = await client.post(f"{URL}/{order['id']}/cancel", headers=customer.headers)

    assert (first.status_code, second.status_code) == (200, 409)
    assert await stock_of(app, product_id) == 10


async def test_only_the_owner_cancels(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    make_user: UserFactory,
    make_product: ProductFactory,
) -> None:
    other = await make_user()
    order = await place_order(client, customer, make_product, quantity=3, stock=10)
    product_id = ordered_product(order)

    foreign = await client.post(f"{URL}/{order['id']}/cancel", headers=other.headers)
    missing = await client.post(f"{URL}/{uuid.uuid4()}/cancel", headers=other.headers)
    malformed = await client.post(f"{URL}/nope/cancel", headers=other.headers)
    anonymous = await client.post(f"{URL}/{order['id']}/cancel")

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["code"] == "NOT_FOUND"
    assert malformed.status_code == 422
    assert anonymous.status_code == 401
    assert await order_status(app, order["id"]) == ("pending", 1)
    assert await stock_of(app, product_id) == 7


async def test_admin_cancellation_returns_the_stock_even_of_a_retired_product(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    admin: TestUser,
    make_product: ProductFactory,
) -> None:
    order = await place_order(client, customer, make_product, quantity=3, stock=10)
    product_id = ordered_product(order)
    retired = await client.delete(f"/api/v1/admin/products/{product_id}", headers=admin.headers)

    response = await client.post(
        f"{ADMIN_URL}/{order['id']}/status", json={"status": "cancelled"}, headers=admin.headers
    )

    assert retired.status_code == 204
    assert response.status_code == 200
    assert response.json()["history"][-1]["actor_id"] == str(admin.id)
    assert await stock_of(app, product_id) == 10


@pytest.mark.parametrize(
    "body",
    [
        {"status": "refunded"},
        {"status": "PAID"},
        {"status": None},
        {"status": 1},
        {},
        {"status": "paid", "note": "x"},
    ],
)
async def test_admin_status_body_is_validated(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    admin: TestUser,
    make_product: ProductFactory,
    body: dict[str, Any],
) -> None:
    order = await place_order(client, customer, make_product, quantity=3, stock=10)

    response = await client.post(
        f"{ADMIN_URL}/{order['id']}/status", json=body, headers=admin.headers
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert await order_status(app, order["id"]) == ("pending", 1)


async def test_admin_status_of_unknown_or_malformed_order(
    client: AsyncClient, admin: TestUser
) -> None:
    missing = await client.post(
        f"{ADMIN_URL}/{uuid.uuid4()}/status", json={"status": "paid"}, headers=admin.headers
    )
    malformed = await client.post(
        f"{ADMIN_URL}/1/status", json={"status": "paid"}, headers=admin.headers
    )
    text = await client.post(
        f"{ADMIN_URL}/{uuid.uuid4()}/status",
        content="status=paid",
        headers={**admin.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert missing.status_code == 404
    assert malformed.status_code == 422
    assert text.status_code == 415
