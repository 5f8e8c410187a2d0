"""Catalogue races on PostgreSQL, with real commits and parallel requests."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from storefront.products.models import Product
from tests.support.clients import make_client
from tests.support.concurrency import ServerTimeline
from tests.support.factories import TestUser, concurrent_app


@pytest.mark.postgres
async def test_concurrent_creates_of_one_sku_give_one_201_and_409s(
    app: FastAPI, database_url: str, admin: TestUser
) -> None:
    async with concurrent_app(database_url) as racing:
        timeline = ServerTimeline(racing)
        async with make_client(timeline) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/admin/products",
                        json={"sku": "RACE-1", "name": f"Racer {i}", "price_cents": 100},
                        headers={**admin.headers, **timeline.label(f"create{i}")},
                    )
                    for i in range(10)
                )
            )

    assert timeline.overlapped()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"SKU_TAKEN"}
    async with app.state.database.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Product).where(Product.sku == "RACE-1")
        )
    assert count == 1
