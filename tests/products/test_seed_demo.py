"""`storefront seed-demo`: a demo catalogue in an empty database, nothing otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from storefront import cli
from storefront.core.config import get_settings
from storefront.products.models import Product
from tests.support.environment import TEST_SECRET_KEY
from tests.support.factories import ProductFactory


@pytest.fixture
def seed_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[None]:
    monkeypatch.setenv("STOREFRONT_DATABASE_URL", database_url)
    monkeypatch.setenv("STOREFRONT_ENVIRONMENT", "test")
    monkeypatch.setenv("STOREFRONT_SECRET_KEY", TEST_SECRET_KEY)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def _run_seed() -> int:
    # The command runs its own event loop (asyncio.run): keep it off the test's loop.
    return await asyncio.to_thread(cli.main, ["seed-demo"])


async def test_seed_demo_fills_an_empty_catalogue(
    app: FastAPI,
    client: AsyncClient,
    seed_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = await _run_seed()

    assert code == 0
    assert capsys.readouterr().out.strip() == "seeded 12 demo products"
    async with app.state.database.sessionmaker() as session:
        products = (await session.scalars(select(Product))).all()
    assert len(products) == 12
    assert {p.currency for p in products} == {"EUR"}
    assert sum(1 for p in products if not p.is_active) == 1
    assert sum(1 for p in products if p.is_active and p.stock == 0) == 1
    public = await client.get("/api/v1/products", params={"limit": 100})
    assert len(public.json()["items"]) == 11


async def test_seed_demo_does_nothing_when_products_exist(
    app: FastAPI,
    seed_env: None,
    make_product: ProductFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    existing = await make_product()

    code = await _run_seed()

    assert code == 0
    assert "nothing seeded" in capsys.readouterr().out
    async with app.state.database.sessionmaker() as session:
        ids = (await session.scalars(select(Product.id))).all()
    assert ids == [existing.id]
