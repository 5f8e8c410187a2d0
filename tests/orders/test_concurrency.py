"""Orders under real concurrency on PostgreSQL: parallel requests, real commits."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from storefront.orders.models import Order, OrderLine, OrderStatus
from tests.support.clients import make_client, order_body
from tests.support.concurrency import ServerTimeline
from tests.support.factories import ProductFactory, TestUser, UserFactory, concurrent_app
from tests.support.rows import order_status, set_order_status, stock_of

pytestmark = pytest.mark.postgres
URL = "/api/v1/orders"


async def ordered_quantity(app: FastAPI, product_id: object) -> int:
    """Units of a product in orders that are not cancelled."""
    async with app.state.database.sessionmaker() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(OrderLine.quantity), 0))
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                OrderLine.product_id == product_id,
                Order.status != OrderStatus.CANCELLED.value,
            )
        )
    return int(total or 0)


async def test_50_buyers_for_20_units_exactly_20_succeed(
    app: FastAPI,
    database_url: str,
    make_user: UserFactory,
    make_product: ProductFactory,
) -> None:
    product = await make_product(stock=20)
    buyers = [await make_user() for _ in range(50)]

    async with concurrent_app(database_url) as racing:
        timeline = ServerTimeline(racing)
        async with make_client(timeline) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        URL,
                        json=order_body((product, 1)),
                        headers={**buyer.headers, **timeline.label(f"buyer{n}")},
                    )
                    for n, buyer in enumerate(buyers)
                )
            )

    assert timeline.overlapped()  # all 50 were in the server at once
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 20, 409: 30}
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "INSUFFICIENT_STOCK"
    }
    remaining = await stock_of(app, product.id)
    assert remaining == 0
    assert remaining + await ordered_quantity(app, product.id) == 20


async def test_crossed_two_product_orders_never_deadlock_into_errors(
    app: FastAPI,
    database_url: str,
    customer: TestUser,
    make_product: ProductFactory,
) -> None:
    first = await make_product(stock=30)
    second = await make_product(stock=30)
    bodies = [
        order_body((first, 1), (second, 1)) if i % 2 else order_body((second, 1), (first, 1))
        for i in range(40)
    ]

    async with concurrent_app(database_url) as racing:
        timeline = ServerTimeline(racing)
        async with make_client(timeline) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        URL, json=body, headers={**customer.headers, **timeline.label(f"o{n}")}
                    )
                    for n, body in enumerate(bodies)
                )
            )

    assert timeline.overlapped()
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}
    assert statuses[201] == 30
    for product in (first, second):
        assert await stock_of(app, product.id) + await ordered_quantity(app, product.id) == 30


async def test_one_idempotency_key_sent_10_times_at_once_makes_one_order(
    app: FastAPI,
    database_url: str,
    customer: TestUser,
    make_product: ProductFactory,
) -> None:
    product = await make_product(stock=100)
    body = order_body((product, 2))
    headers = {**customer.headers, "Idempotency-Key": "pay-once"}

    async with concurrent_app(database_url) as racing:
        timeline = ServerTimeline(racing)
        async with make_client(timeline) as client:
            responses = await asyncio.gather(
                *(
                    client.post(URL, json=body, headers={**headers, **timeline.label(f"k{n}")})
                    for n in range(10)
                )
            )
            settled = await client.post(URL, json=body, headers=headers)

    assert timeline.overlapped([f"k{n}" for n in range(10)])
    created = [r for r in responses if r.status_code == 201]
    assert created
    assert all(r.status_code in (201, 409) for r in responses)
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} <= {
        "IDEMPOTENCY_IN_PROGRESS"
    }
    assert len({r.json()["id"] for r in created}) == 1
    assert sum(1 for r in created if "Idempotent-Replayed" not in r.headers) == 1
    assert settled.status_code == 201
    assert settled.headers["Idempotent-Replayed"] == "true"
    assert settled.json()["id"] == created[0].json()["id"]
    async with app.state.database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 1
    assert await stock_of(app, product.id) == 98


async def test_cancel_and_ship_at_once_exactly_one_wins(
    app: FastAPI,
    database_url: str,
    customer: TestUser,
    admin: TestUser,
    make_product: ProductFactory,
) -> None:
    product = await make_product(stock=10)
    rounds = 5
    overlapping_rounds = 0
    async with concurrent_app(database_url) as racing:
        timeline = ServerTimeline(racing)
        async with make_client(timeline) as http:
            for round_number in range(rounds):
                placed = await http.post(
                    URL, json=order_body((product, 2)), headers=customer.headers
                )
                order_id = placed.json()["id"]
                await set_order_status(app, order_id, "paid")

                labels = [f"cancel{round_number}", f"ship{round_number}"]
                cancel, ship = await asyncio.gather(
                    http.post(
                        f"{URL}/{order_id}/cancel",
                        headers={**customer.headers, **timeline.label(labels[0])},
                    ),
                    http.post(
                        f"/api/v1/admin/orders/{order_id}/status",
                        json={"status": "shipped"},
                        headers={**admin.headers, **timeline.label(labels[1])},
                    ),
                )
                overlapping_rounds += timeline.overlapped(labels)

                assert sorted([cancel.status_code, ship.status_code]) == [200, 409]
                loser = cancel if cancel.status_code == 409 else ship
                assert loser.json()["error"]["code"] == "INVALID_TRANSITION"
                status, history = await order_status(app, order_id)
                assert status == ("cancelled" if cancel.status_code == 200 else "shipped")
                assert history == 2  # pending, then the winner's move only

    assert overlapping_rounds >= rounds // 2 + 1
    assert await stock_of(app, product.id) + await ordered_quantity(app, product.id) == 10
