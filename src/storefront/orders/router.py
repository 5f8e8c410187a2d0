"""HTTP routes of the orders domain."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status

from storefront.core.database import ReaderDep, WriteSessionDep
from storefront.core.errors import ValidationFailed
from storefront.core.openapi import error_responses
from storefront.core.pagination import Page, PageParamsDep
from storefront.core.reads import Row
from storefront.core.responses import JSON_MEDIA_TYPE, json_response, page_response, render
from storefront.orders import service
from storefront.orders.errors import (
    IdempotencyInProgress,
    IdempotencyKeyMismatch,
    InsufficientStock,
    InvalidTransition,
    OrderNotFound,
)
from storefront.orders.idempotency import StoredAnswer
from storefront.orders.models import OrderStatus
from storefront.orders.schemas import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    IDEMPOTENCY_KEY_PATTERN,
    OrderCreate,
    OrderRead,
    OrderStatusChange,
)
from storefront.users.dependencies import ADMIN_ERRORS, CURRENT_USER_ERRORS, AdminUser, CurrentUser

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

_REPLAYED = {"Idempotent-Replayed": "true"}
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
            *CURRENT_USER_ERRORS,
            InsufficientStock,
            IdempotencyInProgress,
            ValidationFailed,
            IdempotencyKeyMismatch,
        ),
    },
)
async def place(
    data: OrderCreate,
    user: CurrentUser,
    session: WriteSessionDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Place an order: stock for every line is taken, or none is (409 `INSUFFICIENT_STOCK`)."""
    placed = await service.place_order(
        session, user.id, data, idempotency_key=idempotency_key, answer_of=_created
    )
    if isinstance(placed, service.OrderReplayed):
        return _sent(placed.answer, _REPLAYED)
    return _sent(_created(placed.order))


def _created(order: Row) -> StoredAnswer:
    """The answer to a new order, and so what a retry with its Idempotency-Key replays (a
    keyed order's is made twice, for its key and to send: the same bytes, from one place)."""
    return StoredAnswer(status.HTTP_201_CREATED, render(OrderRead, order).decode())


def _sent(answer: StoredAnswer, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        answer.body, status_code=answer.status_code, headers=headers, media_type=JSON_MEDIA_TYPE
    )


@router.get("", response_model=Page[OrderRead], responses=error_responses(*CURRENT_USER_ERRORS))
async def list_mine(
    user: CurrentUser, reader: ReaderDep, page: PageParamsDep, status: StatusQuery = None
) -> Response:
    """The caller's orders, newest first."""
    return page_response(
        OrderRead, await service.list_orders(reader, page, user_id=user.id, status=status)
    )


@router.get(
    "/{order_id}",
    response_model=OrderRead,
    responses=error_responses(*CURRENT_USER_ERRORS, OrderNotFound),
)
async def get_mine(order_id: uuid.UUID, user: CurrentUser, reader: ReaderDep) -> Response:
    """One of the caller's orders (anyone else's is a 404)."""
    return json_response(OrderRead, await service.read_order(reader, order_id, user_id=user.id))


@router.post(
    "/{order_id}/cancel",
    response_model=OrderRead,
    responses=error_responses(*CURRENT_USER_ERRORS, OrderNotFound, InvalidTransition),
)
async def cancel(order_id: uuid.UUID, user: CurrentUser, session: WriteSessionDep) -> OrderRead:
    """Cancel the caller's order while it is pending or paid; the stock goes back."""
    return OrderRead.model_validate(await service.cancel_order(session, order_id, user.id))


# --------------------------------------------------------------------------- admin


@admin_router.get("", response_model=Page[OrderRead], responses=error_responses(*ADMIN_ERRORS))
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


@admin_router.get(
    "/{order_id}", response_model=OrderRead, responses=error_responses(*ADMIN_ERRORS, OrderNotFound)
)
async def get_order(order_id: uuid.UUID, _admin: AdminUser, reader: ReaderDep) -> Response:
    """Any order."""
    return json_response(OrderRead, await service.read_order(reader, order_id))


@admin_router.post(
    "/{order_id}/status",
    response_model=OrderRead,
    responses=error_responses(*ADMIN_ERRORS, OrderNotFound, InvalidTransition),
)
async def set_order_status(
    order_id: uuid.UUID, data: OrderStatusChange, admin: AdminUser, session: WriteSessionDep
) -> OrderRead:
    """Move the order along `pending → paid → shipped → delivered`, or cancel it from
    pending or paid (the stock goes back); anything else is 409 `INVALID_TRANSITION`."""
    order = await service.change_status(session, order_id, data.status, actor_id=admin.id)
    return OrderRead.model_validate(order)
