"""Users and products inserted directly (committed), and apps built for a test's needs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from storefront.main import create_app
from storefront.products.models import Product
from storefront.users.models import User
from tests.support.environment import make_settings

AppFactory = Callable[..., Awaitable[FastAPI]]


@dataclass
class TestUser:
    __test__ = False  # not a test class, whatever pytest thinks of the name

    user: User
    password: str
    headers: dict[str, str]

    @property
    def id(self) -> uuid.UUID:
        return self.user.id

    @property
    def email(self) -> str:
        return self.user.email


UserFactory = Callable[..., Awaitable[TestUser]]


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
