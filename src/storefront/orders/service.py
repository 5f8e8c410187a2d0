"""Business rules of the orders domain: placing orders, reading them, and the status machine.

Stock belongs to the products domain: this module asks `products.service` to reserve and
release it, inside the request's transaction, and never touches the products table. The rules
of an Idempotency-Key are `orders.idempotency`'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storefront.core.database import WriteSession, utcnow
from storefront.core.pagination import PageParams, Slice
from storefront.core.reads import Reader, Row
from storefront.orders import idempotency, repository
from storefront.orders.errors import (
    CurrencyMismatch,
    DuplicateProduct,
    InsufficientStock,
    InvalidTransition,
    OrderNotFound,
    ProductUnavailable,
    StockShortfall,
)
from storefront.orders.idempotency import StoredAnswer
from storefront.orders.models import Order, OrderHistory, OrderStatus
from storefront.orders.schemas import OrderCreate
from storefront.products import service as products

# Target status -> the statuses it may be reached from. Anything else is INVALID_TRANSITION.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PAID: frozenset({OrderStatus.PENDING}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.PAID}),
    OrderStatus.DELIVERED: frozenset({OrderStatus.SHIPPED}),
    OrderStatus.CANCELLED: frozenset({OrderStatus.PENDING, OrderStatus.PAID}),
}


# --------------------------------------------------------------------------- placing


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    """A new order: its row with its `lines` and `history`, as `OrderRead` reads it."""

    order: Row


@dataclass(frozen=True, slots=True)
class OrderReplayed:
    """A retry of a keyed request: the first request's answer, to be sent again as it was."""

    answer: StoredAnswer


# How the caller answers a new order. A keyed request's answer is kept with its key, so it
# must exist before the order's rows are inserted (with them, in one statement on PostgreSQL).
AnswerOf = Callable[[Row], StoredAnswer]


async def place_order(
    session: WriteSession,
    user_id: uuid.UUID,
    data: OrderCreate,
    *,
    idempotency_key: str | None,
    answer_of: AnswerOf,
) -> OrderPlaced | OrderReplayed:
    """Create an order in the caller's transaction: the stock of every line is taken, or none
    is (any refusal rolls the transaction back). With an `Idempotency-Key`, a retry of the
    same request replays the first answer instead (`orders.idempotency`)."""
    _check_distinct_products(data)
    claim = await idempotency.claim(session, user_id, idempotency_key, data)
    if isinstance(claim, StoredAnswer):
        return OrderReplayed(claim)
    order = _new_order(user_id, data, await _reserve(session, data))
    if claim is None:
        await repository.insert_order(session, order.order, order.lines, order.history, None)
    else:
        await _insert_with_key(session, order, claim, answer_of)
    return OrderPlaced(order.row)


def _check_distinct_products(data: OrderCreate) -> None:
    seen: set[uuid.UUID] = set()
    for index, item in enumerate(data.items):
        if item.product_id in seen:
            raise DuplicateProduct(index)
        seen.add(item.product_id)


async def _reserve(session: WriteSession, data: OrderCreate) -> list[products.ReservedProduct]:
    """Take the stock of every line (all or none): what each line copies, in line order."""
    quantities = {item.product_id: item.quantity for item in data.items}
    reservation = await products.reserve_stock(session, quantities)
    # Raising rolls the whole transaction back, with whatever stock was already taken.
    if reservation.unavailable:
        unavailable = set(reservation.unavailable)
        raise ProductUnavailable(
            index for index, item in enumerate(data.items) if item.product_id in unavailable
        )
    _check_one_currency(data, reservation.reserved)
    if reservation.short:
        raise InsufficientStock(
            StockShortfall(product_id=s.product_id, requested=s.requested, available=s.available)
            for s in reservation.short
        )
    return [reservation.reserved[item.product_id] for item in data.items]


def _check_one_currency(
    data: OrderCreate, reserved: Mapping[uuid.UUID, products.ReservedProduct]
) -> None:
    """Every reserved line in the currency of the first (short lines are refused anyway)."""
    currency: str | None = None
    for index, item in enumerate(data.items):
        taken = reserved.get(item.product_id)
        if taken is None:
            continue
        currency = currency or taken.currency
        if taken.currency != currency:
            raise CurrencyMismatch(index, currency)


@dataclass(frozen=True, slots=True)
class _NewOrder:
    """The rows of a new order, as inserted."""

    order: dict[str, Any]
    lines: list[dict[str, Any]]
    history: list[dict[str, Any]]

    @property
    def created_at(self) -> datetime:
        created_at: datetime = self.order["created_at"]
        return created_at

    @property
    def row(self) -> Row:
        """The order as read back: with its lines and history."""
        return {**self.order, "lines": self.lines, "history": self.history}


def _new_order(
    user_id: uuid.UUID, data: OrderCreate, reserved: list[products.ReservedProduct]
) -> _NewOrder:
    """The order with the prices copied at order time, pending, and its first history row."""
    now = utcnow()
    order_id = uuid.uuid4()
    lines = _lines(order_id, data, reserved)
    pending = OrderStatus.PENDING.value
    order = {
        "id": order_id,
        "user_id": user_id,
        "status": pending,
        "currency": reserved[0].currency,
        "total_cents": sum(line["line_total_cents"] for line in lines),
        "created_at": now,
        "updated_at": now,
    }
    history = [
        {
            "id": uuid.uuid4(),
            "order_id": order_id,
            "status": pending,
            "at": now,
            "actor_id": user_id,
        }
    ]
    return _NewOrder(order, lines, history)


def _lines(
    order_id: uuid.UUID, data: OrderCreate, reserved: list[products.ReservedProduct]
) -> list[dict[str, Any]]:
    return [
        {
            "id": uuid.uuid4(),
            "order_id": order_id,
            "position": position,
            "product_id": product.product_id,
            "sku": product.sku,
            "name": product.name,
            "unit_price_cents": product.price_cents,
            "quantity": item.quantity,
            "line_total_cents": product.price_cents * item.quantity,
        }
        for position, (item, product) in enumerate(zip(data.items, reserved, strict=True))
    ]


async def _insert_with_key(
    session: WriteSession, order: _NewOrder, claim: idempotency.Claim, answer_of: AnswerOf
) -> None:
    """The order's rows with its key's: the answer to this request, replayed from now on."""
    key = claim.record(answer_of(order.row), order.created_at)
    with idempotency.collision_is_in_flight():
        await repository.insert_order(session, order.order, order.lines, order.history, key)
    await idempotency.purge_sometimes(session)


# --------------------------------------------------------------------------- reading


async def list_orders(
    reader: Reader,
    page: PageParams,
    *,
    user_id: uuid.UUID | None = None,
    status: OrderStatus | None = None,
) -> Slice[Row]:
    status_value = status.value if status else None
    rows = await repository.read_page(reader, page, user_id=user_id, status=status_value)
    return Slice.from_mappings(rows, page.limit)


async def read_order(
    reader: Reader, order_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> Row:
    """With `user_id`, only that user's order: someone else's is as missing as no order."""
    order = await repository.read_one(reader, order_id, user_id=user_id)
    if order is None:
        raise OrderNotFound
    return order


# --------------------------------------------------------------------------- status machine


async def change_status(
    session: WriteSession,
    order_id: uuid.UUID,
    new_status: OrderStatus,
    *,
    actor_id: uuid.UUID,
    owner_id: uuid.UUID | None = None,
) -> Order:
    """Move an order along the machine atomically, record who did it, and give the stock
    back when it is cancelled. With `owner_id`, only that user's order."""
    allowed = TRANSITIONS.get(new_status, frozenset())
    now = utcnow()
    moved = bool(allowed) and await repository.move_status(
        session,
        order_id,
        user_id=owner_id,
        allowed_from=[status.value for status in allowed],
        to=new_status.value,
        at=now,
    )
    if not moved:
        current = await repository.get_status(session, order_id, user_id=owner_id)
        if current is None:
            raise OrderNotFound
        raise InvalidTransition(current, new_status.value)
    await repository.add(
        session, OrderHistory(order_id=order_id, status=new_status.value, at=now, actor_id=actor_id)
    )
    order = await repository.get(session, order_id)
    if order is None:  # its status moved above, in this transaction
        raise OrderNotFound
    if new_status is OrderStatus.CANCELLED:
        await products.release_stock(
            session, {line.product_id: line.quantity for line in order.lines}
        )
    return order


async def cancel_order(session: WriteSession, order_id: uuid.UUID, user_id: uuid.UUID) -> Order:
    return await change_status(
        session, order_id, OrderStatus.CANCELLED, actor_id=user_id, owner_id=user_id
    )
