"""Pydantic models of the orders API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from storefront.core.schema_types import integral_number
from storefront.orders.models import OrderStatus

MAX_LINES = 50
MAX_QUANTITY = 1000
# 1-255 printable ASCII characters, no leading or trailing space.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"
IDEMPOTENCY_KEY_MAX_LENGTH = 255


class OrderItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: uuid.UUID
    # `"2"`, `2.5` and `true` are not quantities (`2.0` is, as in the OpenAPI document).
    quantity: Annotated[
        int, Field(strict=True, ge=1, le=MAX_QUANTITY, examples=[2]), integral_number
    ]


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[
        list[OrderItemCreate],
        Field(
            min_length=1,
            max_length=MAX_LINES,
            description="1-50 lines, each product at most once, all in one currency.",
        ),
    ]


class OrderStatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: OrderStatus


class OrderLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: uuid.UUID
    sku: str
    name: str
    unit_price_cents: int
    quantity: int
    line_total_cents: int


class OrderHistoryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: OrderStatus
    at: datetime
    actor_id: uuid.UUID | None


class OrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID
    status: OrderStatus
    currency: str
    items: list[OrderLineRead] = Field(validation_alias="lines")
    total_cents: int
    history: list[OrderHistoryRead]
    created_at: datetime
    updated_at: datetime
