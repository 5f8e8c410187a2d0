"""Every query of the products domain. Repositories flush, they never commit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.database import utcnow
from storefront.core.pagination import Cursor
from storefront.products.models import Product


@dataclass(frozen=True, slots=True)
class ProductFilters:
    q: str | None = None
    min_price_cents: int | None = None
    max_price_cents: int | None = None
    in_stock: bool | None = None
    is_active: bool | None = None


@dataclass(frozen=True, slots=True)
class ReservedRow:
    id: uuid.UUID
    sku: str
    name: str
    price_cents: int
    currency: str


async def list_page(
    session: AsyncSession, filters: ProductFilters, limit: int, cursor: Cursor | None
) -> Sequence[Product]:
    """`limit + 1` products, newest first, after `cursor`."""
    query = select(Product)
    if filters.is_active is not None:
        query = query.where(Product.is_active.is_(filters.is_active))
    if filters.q:
        query = query.where(
            or_(
                Product.name.icontains(filters.q, autoescape=True),
                Product.sku.icontains(filters.q, autoescape=True),
                Product.description.icontains(filters.q, autoescape=True),
            )
        )
    if filters.min_price_cents is not None:
        query = query.where(Product.price_cents >= filters.min_price_cents)
    if filters.max_price_cents is not None:
        query = query.where(Product.price_cents <= filters.max_price_cents)
    if filters.in_stock is True:
        query = query.where(Product.stock > 0)
    elif filters.in_stock is False:
        query = query.where(Product.stock == 0)
    if cursor is not None:
        query = query.where(
            tuple_(Product.created_at, Product.id) < tuple_(cursor.created_at, cursor.id)
        )
    query = query.order_by(Product.created_at.desc(), Product.id.desc()).limit(limit + 1)
    return (await session.scalars(query)).all()


async def get(session: AsyncSession, product_id: uuid.UUID) -> Product | None:
    return await session.get(Product, product_id)


async def get_by_sku(session: AsyncSession, sku: str) -> Product | None:
    return await session.scalar(select(Product).where(Product.sku == sku))


async def count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Product)) or 0


async def add(session: AsyncSession, product: Product) -> Product:
    session.add(product)
    await session.flush()
    return product


async def flush(session: AsyncSession) -> None:
    await session.flush()


async def take_stock(
    session: AsyncSession, product_id: uuid.UUID, quantity: int
) -> ReservedRow | None:
    """Take `quantity` units if the product is active and has them; None otherwise. The
    condition is re-checked on the locked row, so concurrent takers can never oversell."""
    result = await session.execute(
        update(Product)
        .where(Product.id == product_id, Product.is_active, Product.stock >= quantity)
        .values(stock=Product.stock - quantity, updated_at=utcnow())
        .returning(Product.id, Product.sku, Product.name, Product.price_cents, Product.currency)
        .execution_options(synchronize_session=False)
    )
    row = result.one_or_none()
    if row is None:
        return None
    return ReservedRow(
        id=row.id, sku=row.sku, name=row.name, price_cents=row.price_cents, currency=row.currency
    )


async def stock_levels(
    session: AsyncSession, product_ids: Sequence[uuid.UUID]
) -> Mapping[uuid.UUID, tuple[bool, int]]:
    """`{id: (is_active, stock)}` of the products that exist."""
    rows = await session.execute(
        select(Product.id, Product.is_active, Product.stock).where(Product.id.in_(product_ids))
    )
    return {row.id: (row.is_active, row.stock) for row in rows}


async def give_back_stock(session: AsyncSession, product_id: uuid.UUID, quantity: int) -> None:
    await session.execute(
        update(Product)
        .where(Product.id == product_id)
        .values(stock=Product.stock + quantity, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
