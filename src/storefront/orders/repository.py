"""Every query of the orders domain. Repositories flush, they never commit."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storefront.core.pagination import Cursor
from storefront.orders.models import IdempotencyRecord, Order, OrderHistory

_WITH_DETAILS = (selectinload(Order.lines), selectinload(Order.history))


async def add(session: AsyncSession, *objects: Order | OrderHistory | IdempotencyRecord) -> None:
    session.add_all(objects)
    await session.flush()


async def list_page(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: Cursor | None,
) -> Sequence[Order]:
    """`limit + 1` orders, newest first, with their lines and history (three statements
    whatever the page size)."""
    query = select(Order).options(*_WITH_DETAILS)
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    if status is not None:
        query = query.where(Order.status == status)
    if cursor is not None:
        query = query.where(
            tuple_(Order.created_at, Order.id) < tuple_(cursor.created_at, cursor.id)
        )
    query = query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)
    return (await session.scalars(query)).all()


async def get(
    session: AsyncSession, order_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> Order | None:
    query = select(Order).options(*_WITH_DETAILS).where(Order.id == order_id)
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    return await session.scalar(query)


async def get_status(
    session: AsyncSession, order_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> str | None:
    query = select(Order.status).where(Order.id == order_id)
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    status: str | None = await session.scalar(query)
    return status


async def move_status(
    session: AsyncSession,
    order_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None,
    allowed_from: Collection[str],
    to: str,
    at: datetime,
) -> bool:
    """Compare-and-set: True if this statement moved the order. The `status IN` condition is
    re-checked on the locked row, so of two concurrent moves only one can win."""
    statement = (
        update(Order)
        .where(Order.id == order_id, Order.status.in_(list(allowed_from)))
        .values(status=to, updated_at=at)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    if user_id is not None:
        statement = statement.where(Order.user_id == user_id)
    return (await session.execute(statement)).first() is not None


# --------------------------------------------------------------------------- idempotency


async def try_advisory_lock(session: AsyncSession, key: int) -> bool:
    """PostgreSQL: a transaction-scoped lock, released at commit or rollback. Elsewhere
    (SQLite, whose writers the database serialises) always True."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    acquired = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key})
    return bool(acquired)


async def get_idempotency_record(
    session: AsyncSession, user_id: uuid.UUID, key: str
) -> IdempotencyRecord | None:
    return await session.get(IdempotencyRecord, (user_id, key))


async def delete_idempotency_record(session: AsyncSession, record: IdempotencyRecord) -> None:
    await session.delete(record)
    await session.flush()


async def purge_idempotency_records(
    session: AsyncSession, created_before: datetime, *, limit: int
) -> int:
    """Delete up to `limit` records created before `created_before`, oldest first, skipping
    rows another transaction holds (a request replaying one, another replica's purge): a
    bounded batch that never waits. The number deleted."""
    batch = (
        select(IdempotencyRecord.user_id, IdempotencyRecord.key)
        .where(IdempotencyRecord.created_at < created_before)
        .order_by(IdempotencyRecord.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    deleted = await session.execute(
        delete(IdempotencyRecord)
        .where(tuple_(IdempotencyRecord.user_id, IdempotencyRecord.key).in_(batch))
        .returning(IdempotencyRecord.key)
        .execution_options(synchronize_session=False)
    )
    return len(deleted.all())
