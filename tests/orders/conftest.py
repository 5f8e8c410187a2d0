from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select, update

from storefront.orders.models import IdempotencyRecord, Order, OrderHistory, OrderLine
from storefront.products.models import Product


async def table_counts(app: FastAPI) -> dict[str, int]:
    """Rows per orders table: a refused request leaves them as they were."""
    counts = {}
    async with app.state.database.sessionmaker() as session:
        for model in (Order, OrderLine, OrderHistory, IdempotencyRecord):
            count = await session.scalar(select(func.count()).select_from(model))
            counts[model.__tablename__] = int(count or 0)
    return counts


def order_body(*lines: tuple[Product, int]) -> dict[str, Any]:
    return {"items": [{"product_id": str(p.id), "quantity": q} for p, q in lines]}


async def set_order_status(app: FastAPI, order_id: str, status: str) -> None:
    """Put an order in a status directly (setup for transition tests)."""
    async with app.state.database.sessionmaker() as session:
        await session.execute(
            update(Order).where(Order.id == uuid.UUID(order_id)).values(status=status)
        )
        await session.commit()


async def order_status(app: FastAPI, order_id: str) -> tuple[str, int]:
    """(status, number of history rows) of an order, read from the database."""
    async with app.state.database.sessionmaker() as session:
        status = await session.scalar(select(Order.status).where(Order.id == uuid.UUID(order_id)))
        history = await session.scalar(
            select(func.count())
            .select_from(OrderHistory)
            .where(OrderHistory.order_id == uuid.UUID(order_id))
        )
    assert status is not None
    return status, int(history or 0)
