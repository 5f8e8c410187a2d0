"""Pydantic models of the products API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from storefront.core.schema_types import NON_BLANK_PATTERN, PartialUpdate, integral_number
from storefront.products.models import NAME_MAX_LENGTH, SKU_MAX_LENGTH

# Bounds keep every number inside its column (stock: 32-bit integer; prices: bigint, far
# below its limit so that quantity x price cannot overflow an order total either).
MAX_STOCK = 1_000_000_000
MAX_PRICE_CENTS = 10**12
MAX_DESCRIPTION_LENGTH = 5_000
SKU_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{SKU_MAX_LENGTH - 1}}}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"

# JSON `"10"`, `10.5` and `true` are not integers (`10.0` is, as in the OpenAPI document).
PriceCents = Annotated[
    int, Field(strict=True, ge=0, le=MAX_PRICE_CENTS, examples=[1999]), integral_number
]
Stock = Annotated[int, Field(strict=True, ge=0, le=MAX_STOCK, examples=[25]), integral_number]
Sku = Annotated[
    str,
    StringConstraints(pattern=SKU_PATTERN, to_upper=True),
    Field(description="Letters, digits, `.`, `_`, `-`; stored upper-case", examples=["MUG-001"]),
]
Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        pattern=NON_BLANK_PATTERN,
    ),
]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)]
Currency = Annotated[str, StringConstraints(pattern=CURRENCY_PATTERN), Field(examples=["EUR"])]
StrictBool = Annotated[bool, Field(strict=True)]


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    name: Name
    description: Description = ""
    price_cents: PriceCents
    currency: Currency = "EUR"
    stock: Stock = 0
    is_active: StrictBool = True


class ProductUpdate(PartialUpdate):
    """Any field; a field given as null is a 422 (none of them is nullable)."""

    sku: Sku | None = None
    name: Name | None = None
    description: Description | None = None
    price_cents: PriceCents | None = None
    currency: Currency | None = None
    stock: Stock | None = None
    is_active: StrictBool | None = None


class ProductRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    stock: int
    is_active: bool
    created_at: datetime
    updated_at: datetime
