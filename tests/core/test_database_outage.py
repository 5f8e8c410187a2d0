"""A database that disappears and comes back, through a proxy of the test's own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from storefront.core.database import IDLE_PING_AFTER_SECONDS
from storefront.orders.models import Order
from storefront.products.models import Product
from tests.support.clients import make_client
from tests.support.factories import AppFactory, UserFactory, insert_product
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
async def database_proxy(database_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    yield proxy, proxied
    await proxy.cut()


@pytest.mark.postgres
async def test_outage_is_503_fast_and_recovers_without_restart(
    make_app_with: AppFactory, database_proxy: tuple[TcpProxy, str]
) -> None:
    proxy, proxied_url = database_proxy
    app = await make_app_with(database_url=proxied_url, db_pool_timeout=1.0, db_connect_timeout=1.0)
    async with make_client(app) as http:
        assert (await http.get("/api/v1/_probe/db")).status_code == 200

        await proxy.cut()
        started = time.monotonic()
        during = [await http.get("/api/v1/_probe/db") for _ in range(3)]
        elapsed = time.monotonic() - started
        ready = await http.get("/health/ready")
        live = await http.get("/health/live")

        await proxy.restore()
        after = await http.get("/api/v1/_probe/db")

    assert [r.status_code for r in during] == [503, 503, 503]
    assert {r.json()["error"]["code"] for r in during} == {"SERVICE_UNAVAILABLE"}
    assert elapsed < 3 * 2.5  # each within about the pool/connect timeout, never a hang
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "unavailable"
    assert live.status_code == 200
    assert after.status_code == 200
    assert after.json() == {"value": 1}


@pytest.mark.postgres
async def test_orders_during_an_outage_are_503_and_leave_nothing_half_written(
    app: FastAPI,
    make_app_with: AppFactory,
    make_user: UserFactory,
    database_proxy: tuple[TcpProxy, str],
) -> None:
    """The real routes, through the proxy: one order before, refusals during, orders after."""
    proxy, proxied_url = database_proxy
    customer = await make_user("outage@example.com")
    product = await insert_product(app, stock=10)
    served = await make_app_with(
        database_url=proxied_url, db_pool_timeout=1.0, db_connect_timeout=1.0
    )
    order = {"items": [{"product_id": str(product.id), "quantity": 2}]}

    async with make_client(served) as http:
        before = await http.post("/api/v1/orders", json=order, headers=customer.headers)

        await proxy.cut()
        started = time.monotonic()
        during = [
            await http.post("/api/v1/orders", json=order, headers=customer.headers),
            await http.get("/api/v1/orders", headers=customer.headers),
            await http.get("/api/v1/users/me", headers=customer.headers),
            await http.get("/api/v1/products"),
        ]
        elapsed = time.monotonic() - started
        # What the database holds while the service cannot reach it (read directly).
        orders_during = await count_orders(app)

        await proxy.restore()
        after = await http.post("/api/v1/orders", json=order, headers=customer.headers)
        listed = await http.get("/api/v1/orders", headers=customer.headers)

    assert before.status_code == 201
    assert [r.status_code for r in during] == [503, 503, 503, 503]
    for response in during:
        assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert response.headers["x-request-id"] == response.json()["error"]["request_id"]
    assert elapsed < 4 * 2.5
    assert orders_during == 1
    assert after.status_code == 201
    assert [o["id"] for o in listed.json()["items"]] == [after.json()["id"], before.json()["id"]]
    async with app.state.database.sessionmaker() as session:
        stock = await session.scalar(select(Product.stock).where(Product.id == product.id))
    assert stock == 10 - 2 - 2


async def count_orders(app: FastAPI) -> int:
    async with app.state.database.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Order)) or 0)


@pytest.mark.postgres
async def test_after_a_quiet_outage_the_first_request_works(
    make_app_with: AppFactory, database_proxy: tuple[TcpProxy, str]
) -> None:
    """No request saw the database go: the pooled connections are dead, and the next request
    must still be served (idle connections are pinged before use)."""
    proxy, proxied_url = database_proxy
    app = await make_app_with(database_url=proxied_url, db_pool_timeout=1.0, db_connect_timeout=1.0)
    async with make_client(app) as http:
        assert (await http.get("/api/v1/_probe/db")).status_code == 200

        await proxy.cut()
        await proxy.restore()
        await asyncio.sleep(IDLE_PING_AFTER_SECONDS + 0.2)
        after = await http.get("/api/v1/_probe/db")

    assert after.status_code == 200
