"""HTTP routes of the orders domain."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status

from storefront.auth.dependencies import AdminUser, CurrentUser
from storefront.core.database import ReaderDep, SessionDep
from storefront.core.openapi import error_responses
from storefront.core.pagination import Page, PageParamsDep
from storefront.core.responses import json_response, page_response
from storefront.orders import service
from storefront.orders.models import OrderStatus
from storefront.orders.schemas import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    IDEMPOTENCY_KEY_PATTERN,
    IdempotencyInProgressError,
    IdempotencyKeyMismatchError,
    InsufficientStockError,
    InvalidTransitionError,
    OrderCreate,
    OrderRead,
    OrderStatusChange,
)

router = APIRouter(tags=["orders"])
admin_router = APIRouter(tags=["admin"])

StatusQuery = Annotated[OrderStatus | None, Query(description="Only orders in this status.")]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="1-255 printable characters. A retry with the same key and body "
        "replays the first answer (kept 24 hours).",
    ),
]

_CREATED: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "The order (or, for a retried Idempotency-Key, the first answer again)",
        "headers": {
            "Idempotent-Replayed": {
                "description": "`true` when this is the stored answer of an earlier request",
                "schema": {"type": "string", "enum": ["true"]},
            }
        },
    }
}


# --------------------------------------------------------------------------- customer


@router.post(
    "",
    response_model=OrderRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        **_CREATED,
        **error_responses(
            401,
            InsufficientStockError,
            IdempotencyInProgressError,
            422,
            IdempotencyKeyMismatchError,
        ),
    },
)
async def place(
    data: OrderCreate,
    user: CurrentUser,
    session: SessionDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Place an order: stock for every line is taken, or none is (409 `INSUFFICIENT_STOCK`)."""
    placed = await service.place_order(session, user.id, data, idempotency_key)
    headers = {"Idempotent-Replayed": "true"} if placed.replayed else None
    return Response(
        content=placed.body,
        status_code=placed.status_code,
        media_type="application/json",
        headers=headers,
    )


@router.get("", response_model=Page[OrderRead], responses=error_responses(401))
async def list_mine(
    user: CurrentUser, reader: ReaderDep, page: PageParamsDep, status: StatusQuery = None
) -> Response:
    """The caller's orders, newest first."""
    return page_response(
        OrderRead, await service.list_orders(reader, page, user_id=user.id, status=status)
    )


@router.get("/{order_id}", response_model=OrderRead, responses=error_responses(401, 404))
async def get_mine(order_id: uuid.UUID, user: CurrentUser, reader: ReaderDep) -> Response:
    """One of the caller's orders (anyone else's is a 404)."""
    return json_response(OrderRead, await service.read_order(reader, order_id, user_id=user.id))


@router.post(
    "/{order_id}/cancel",
    response_model=OrderRead,
    responses=error_responses(401, 404, InvalidTransitionError),
)
async def cancel(order_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> OrderRead:
    """Cancel the caller's order while it is pending or paid; the stock goes back."""
    return OrderRead.model_validate(await service.cancel_order(session, order_id, user.id))


# --------------------------------------------------------------------------- admin


@admin_router.get("", response_model=Page[OrderRead], responses=error_responses(401, 403))
async def list_orders(
    _admin: AdminUser,
    reader: ReaderDep,
    page: PageParamsDep,
    user_id: Annotated[uuid.UUID | None, Query(description="Only this user's orders.")] = None,
    status: StatusQuery = None,
) -> Response:
    """Every order, newest first."""
    return page_response(
        OrderRead, await service.list_orders(reader, page, user_id=user_id, status=status)
    )


@admin_router.get("/{order_id}", response_model=OrderRead, responses=error_responses(401, 403, 404))
async def get_order(order_id: uuid.UUID, _admin: AdminUser, reader: ReaderDep) -> Response:
    """Any order."""
    return json_response(OrderRead, await service.read_order(reader, order_id))


@admin_router.post(
    "/{order_id}/status",
    response_model=OrderRead,
    responses=error_responses(401, 403, 404, InvalidTransitionError),
)
async def set_order_status(
    order_id: uuid.UUID, data: OrderStatusChange, admin: AdminUser, session: SessionDep
) -> OrderRead:
    """Move the order along `pending → paid → shipped → delivered`, or cancel it from
    pending or paid (the stock goes back); anything else is 409 `INVALID_TRANSITION`."""
    order = await service.change_status(session, order_id, data.status, actor_id=admin.id)
    return OrderRead.model_validate(order)
