"""Business rules of the orders domain: placing orders (stock, idempotency), reading them,
and the status machine.

Stock belongs to the products domain: this module asks `products.service` to reserve and
release it, inside the request's transaction, and never touches the products table.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.database import utcnow
from storefront.core.errors import Conflict, NotFound, ValidationFailed
from storefront.core.pagination import PageParams, Slice
from storefront.core.reads import Reader, Row
from storefront.core.responses import render
from storefront.orders import repository
from storefront.orders.models import (
    Order,
    OrderHistory,
    OrderStatus,
)
from storefront.orders.schemas import OrderCreate, OrderRead
from storefront.products import service as products

# Target status -> the statuses it may be reached from. Anything else is INVALID_TRANSITION.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PAID: frozenset({OrderStatus.PENDING}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.PAID}),
    OrderStatus.DELIVERED: frozenset({OrderStatus.SHIPPED}),
    OrderStatus.CANCELLED: frozenset({OrderStatus.PENDING, OrderStatus.PAID}),
}

IDEMPOTENCY_TTL = timedelta(hours=24)
# Expired keys are purged by `storefront purge` (a CronJob), and a small batch of them by a
# small share of the requests that store a key, so that a deployment without the job stays
# bounded too, and no request pays much for it.
IDEMPOTENCY_PURGE_PROBABILITY = 0.02
IDEMPOTENCY_PURGE_IN_REQUEST = 50


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """The answer to `POST /orders`: the stored JSON, so that a replay is byte-identical."""

    status_code: int
    body: str
    replayed: bool


# --------------------------------------------------------------------------- placing


def request_fingerprint(data: OrderCreate) -> str:
    """SHA-256 of the canonical JSON of the validated body."""
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_lock_id(user_id: uuid.UUID, key: str) -> int:
    """A signed 64-bit number for `pg_try_advisory_xact_lock`, one per (user, key)."""
    digest = hashlib.sha256(f"storefront-order:{user_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _in_progress() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still being processed; retry shortly",
        code="IDEMPOTENCY_IN_PROGRESS",
    )


def _check_distinct_products(data: OrderCreate) -> None:
    seen: set[uuid.UUID] = set()
    for index, item in enumerate(data.items):
        if item.product_id in seen:
            raise ValidationFailed(
                f"body.items.{index}.product_id",
                "A product may appear only once per order",
                type_="duplicate_product",
            )
        seen.add(item.product_id)


async def _reserve(session: AsyncSession, data: OrderCreate) -> list[products.ReservedProduct]:
    """Take the stock of every line (all or none): what each line copies, in line order."""
    quantities = {item.product_id: item.quantity for item in data.items}
    reservation = await products.reserve_stock(session, quantities)
    # Raising rolls the whole transaction back, with whatever stock was already taken.
    if reservation.unavailable:
        unavailable = set(reservation.unavailable)
        errors = [
            {
                "field": f"body.items.{index}.product_id",
                "message": "Unknown or inactive product",
                "type": "product_unavailable",
            }
            for index, item in enumerate(data.items)
            if item.product_id in unavailable
        ]
        raise ValidationFailed(errors[0]["field"], errors[0]["message"], details={"errors": errors})
    currency: str | None = None
    for index, item in enumerate(data.items):
        taken = reservation.reserved.get(item.product_id)
        if taken is None:  # short: reported below
            continue
        currency = currency or taken.currency
        if taken.currency != currency:
            raise ValidationFailed(
                f"body.items.{index}.product_id",
                f"All items of an order must be in one currency ({currency})",
                type_="currency_mismatch",
            )
    if reservation.short:
        raise Conflict(
            "Not enough stock for some products",
            code="INSUFFICIENT_STOCK",
            details={
                "products": [
                    {
                        "product_id": str(short.product_id),
                        "requested": short.requested,
                        "available": short.available,
                    }
                    for short in reservation.short
                ]
            },
        )

    return [reservation.reserved[item.product_id] for item in data.items]


@dataclass(frozen=True, slots=True)
class NewOrder:
    """The rows of a new order, as inserted and as answered."""

    order: dict[str, Any]
    lines: list[dict[str, Any]]
    history: list[dict[str, Any]]

    def body(self) -> str:
        row = {**self.order, "lines": self.lines, "history": self.history}
        return render(OrderRead, row).decode()


def _new_order(
    user_id: uuid.UUID, data: OrderCreate, reserved: list[products.ReservedProduct]
) -> NewOrder:
    """The order with the prices copied at order time, pending, and its first history row."""
    now = utcnow()
    order_id = uuid.uuid4()
    lines: list[dict[str, Any]] = [
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
    return NewOrder(order, lines, history)


async def place_order(
    session: AsyncSession,
    user_id: uuid.UUID,
    data: OrderCreate,
    idempotency_key: str | None = None,
) -> PlacedOrder:
    """Create an order in the caller's transaction; with an `Idempotency-Key`, a retry of the
    same request replays the first answer instead.

    PostgreSQL: a transaction-scoped advisory lock per (user, key) marks the request in
    progress; a concurrent one that cannot take it is a 409. The key's record is inserted
    with the order, so it exists exactly when the order was committed; any error rolls both
    back and the client may retry with the same key.
    """
    _check_distinct_products(data)
    fingerprint = None
    if idempotency_key is not None:
        fingerprint = request_fingerprint(data)
        locked, record = await repository.lock_and_find_idempotency_record(
            session, idempotency_lock_id(user_id, idempotency_key), user_id, idempotency_key
        )
        if not locked:
            raise _in_progress()
        if record is not None and record.created_at < utcnow() - IDEMPOTENCY_TTL:
            await repository.delete_idempotency_record(session, user_id, idempotency_key)
            record = None
        if record is not None:
            if record.fingerprint != fingerprint:
                raise ValidationFailed(
                    "header.Idempotency-Key",
                    "This Idempotency-Key was used with a different request",
                    type_="idempotency_key_mismatch",
                    code="IDEMPOTENCY_KEY_MISMATCH",
                )
            return PlacedOrder(record.status_code, record.response_body, replayed=True)

    order = _new_order(user_id, data, await _reserve(session, data))
    body = order.body()
    stored = None
    if idempotency_key is not None and fingerprint is not None:
        stored = {
            "user_id": user_id,
            "key": idempotency_key,
            "fingerprint": fingerprint,
            "status_code": 201,
            "response_body": body,
            "created_at": order.order["created_at"],
        }
    try:
        await repository.insert_order(session, order.order, order.lines, order.history, stored)
    except IntegrityError as exc:
        # Only where no advisory lock exists (SQLite): a concurrent request with the same
        # key committed first. This transaction (and its stock) is rolled back.
        if idempotency_key is not None and "idempotency_keys" in str(exc.orig):
            raise _in_progress() from None
        raise
    if idempotency_key is not None and random.random() < IDEMPOTENCY_PURGE_PROBABILITY:  # noqa: S311
        await purge_expired_idempotency_keys(session, limit=IDEMPOTENCY_PURGE_IN_REQUEST)
    return PlacedOrder(201, body, replayed=False)


async def purge_expired_idempotency_keys(session: AsyncSession, *, limit: int) -> int:
    """Delete up to `limit` keys past their 24 hours; the number deleted."""
    return await repository.purge_idempotency_records(
        session, utcnow() - IDEMPOTENCY_TTL, limit=limit
    )


# --------------------------------------------------------------------------- reading


async def list_orders(
    reader: Reader,
    page: PageParams,
    *,
    user_id: uuid.UUID | None = None,
    status: OrderStatus | None = None,
) -> Slice[Row]:
    rows = await repository.read_page(
        reader,
        user_id=user_id,
        status=status.value if status else None,
        limit=page.limit,
        cursor=page.cursor,
    )
    return Slice.from_mappings(rows, page.limit)


async def read_order(
    reader: Reader, order_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> Row:
    """With `user_id`, only that user's order: someone else's is as missing as no order."""
    order = await repository.read_one(reader, order_id, user_id=user_id)
    if order is None:
        raise NotFound("Order not found")
    return order


async def get_order(
    session: AsyncSession, order_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> Order:
    """With `user_id`, only that user's order: someone else's is as missing as no order."""
    order = await repository.get(session, order_id, user_id=user_id)
    if order is None:
        raise NotFound("Order not found")
    return order


# --------------------------------------------------------------------------- status machine


async def change_status(
    session: AsyncSession,
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
            raise NotFound("Order not found")
        raise Conflict(
            f"An order cannot go from {current} to {new_status.value}",
            code="INVALID_TRANSITION",
            details={"from": current, "to": new_status.value},
        )
    await repository.add(
        session, OrderHistory(order_id=order_id, status=new_status.value, at=now, actor_id=actor_id)
    )
    order = await get_order(session, order_id)
    if new_status is OrderStatus.CANCELLED:
        await products.release_stock(
            session, {line.product_id: line.quantity for line in order.lines}
        )
    return order


async def cancel_order(session: AsyncSession, order_id: uuid.UUID, user_id: uuid.UUID) -> Order:
    return await change_status(
        session, order_id, OrderStatus.CANCELLED, actor_id=user_id, owner_id=user_id
    )
