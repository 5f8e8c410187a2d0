"""Products for tests, inserted directly (committed), and snapshots of the products table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from storefront.main import create_app
from storefront.products.models import Product
from tests.conftest import make_settings

ProductFactory = Callable[..., Awaitable[Product]]


async def insert_product(app: FastAPI, **overrides: Any) -> Product:
    values: dict[str, Any] = {
        "sku": f"SKU-{uuid.uuid4().hex[:10].upper()}",
        "name": "Test product",
        "description": "",
        "price_cents": 1000,
        "currency": "EUR",
        "stock": 10,
        "is_active": True,
    }
    values.update(overrides)
    async with app.state.database.sessionmaker() as session:
        product = Product(**values)
        session.add(product)
        await session.commit()
    return product


async def products_state(app: FastAPI) -> list[tuple[Any, ...]]:
    """Every product row, for asserting that a refused request changed nothing."""
    async with app.state.database.sessionmaker() as session:
        rows = await session.execute(
            select(
                Product.id,
                Product.sku,
                Product.name,
                Product.description,
                Product.price_cents,
                Product.currency,
                Product.stock,
                Product.is_active,
                Product.updated_at,
            ).order_by(Product.id)
        )
        return [tuple(row) for row in rows]


async def stock_of(app: FastAPI, product_id: uuid.UUID) -> int:
    async with app.state.database.sessionmaker() as session:
        stock: int | None = await session.scalar(
            select(Product.stock).where(Product.id == product_id)
        )
    assert stock is not None
    return stock


@asynccontextmanager
async def concurrent_app(database_url: str) -> AsyncIterator[FastAPI]:
    """An app whose pool holds every request of a concurrency test at once (the default
    test pool would time out into 503s). Tables are emptied by the `app` fixture's teardown:
    tests that use this also request `app`."""
    application = create_app(
        make_settings(database_url, db_pool_size=30, db_max_overflow=30, db_pool_timeout=15)
    )
    async with application.router.lifespan_context(application):
        yield application
