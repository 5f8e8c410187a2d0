from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI

from storefront.products.models import Product
from tests.products.factories import insert_product

ProductFactory = Callable[..., Awaitable[Product]]


@pytest.fixture
def make_product(app: FastAPI) -> ProductFactory:
    async def factory(**overrides: Any) -> Product:
        return await insert_product(app, **overrides)

    return factory
