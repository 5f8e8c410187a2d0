"""The database state a request leaves, read directly: what a test asserts beside the HTTP
answer (and the statements a request sent)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event, func, select, update

from storefront.auth.models import OneTimeToken, RefreshToken
from storefront.orders.models import IdempotencyRecord, Order, OrderHistory, OrderLine
from storefront.products.models import Product
from storefront.users.models import User


async def count_rows(app: FastAPI, model: type[Any]) -> int:
    async with app.state.database.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def user_row(app: FastAPI, user_id: uuid.UUID | str) -> User:
    async with app.state.database.sessionmaker() as session:
        user = await session.get(User, uuid.UUID(str(user_id)))
        assert user is not None
        return user


async def refresh_rows(app: FastAPI, user_id: uuid.UUID | str) -> list[RefreshToken]:
    async with app.state.database.sessionmaker() as session:
        rows = await session.scalars(
            select(RefreshToken)
            .where(RefreshToken.user_id == uuid.UUID(str(user_id)))
            .order_by(RefreshToken.created_at)
        )
        return list(rows)


async def one_time_rows(app: FastAPI) -> list[OneTimeToken]:
    async with app.state.database.sessionmaker() as session:
        return list(await session.scalars(select(OneTimeToken)))


async def table_counts(app: FastAPI) -> dict[str, int]:
    """Rows per orders table: a refused request leaves them as they were."""
    counts = {}
    async with app.state.database.sessionmaker() as session:
        for model in (Order, OrderLine, OrderHistory, IdempotencyRecord):
            count = await session.scalar(select(func.count()).select_from(model))
            counts[model.__tablename__] = int(count or 0)
    return counts


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


# What asyncpg sends by itself to learn a type: JIT off, the type query, JIT back.
ASYNCPG_TYPE_INTROSPECTION = ("typeinfo_tree", "set_config('jit'")


@asynccontextmanager
async def record_statements(app: FastAPI) -> AsyncIterator[list[str]]:
    """Every statement the app sends to the database meanwhile, whichever path sent it:
    SQLAlchemy's execute path (its cursor events) and, on PostgreSQL, what goes straight to
    asyncpg (the fast read path, and BEGIN/COMMIT/ROLLBACK), from asyncpg's query logger."""
    statements: list[str] = []
    engine = app.state.database.engine.sync_engine

    def on_execute(*args: Any) -> None:
        statements.append(args[2])

    def on_query(record: Any) -> None:
        # Not the app's: asyncpg learns a type (e.g. `record[]`) once per connection.
        if not any(marker in record.query for marker in ASYNCPG_TYPE_INTROSPECTION):
            statements.append(record.query)

    def on_checkout(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(on_query)

    def on_checkin(dbapi_connection: Any, *_: Any) -> None:
        if dbapi_connection is not None:
            dbapi_connection.driver_connection.remove_query_logger(on_query)

    pool_events = engine.dialect.driver == "asyncpg"
    event.listen(engine, "before_cursor_execute", on_execute)
    if pool_events:
        event.listen(engine.pool, "checkout", on_checkout)
        event.listen(engine.pool, "checkin", on_checkin)
    try:
        yield statements
        await asyncio.sleep(0.01)  # asyncpg calls its query loggers soon, not at once
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        if pool_events:
            event.remove(engine.pool, "checkout", on_checkout)
            event.remove(engine.pool, "checkin", on_checkin)
