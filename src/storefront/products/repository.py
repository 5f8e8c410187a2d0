"""Every query of the products domain. Repositories flush, they never commit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, or_, select, update

from storefront.core.database import ReadSession, WriteSession, utcnow
from storefront.core.pagination import Cursor, Keyset, keyset_params
from storefront.core.reads import Reader, ReadQuery, Row
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


# --------------------------------------------------------------------------- fast reads

_COLUMNS = list(Product.__table__.c)
_TABLE = Product.__table__.c
_LIKE_ESCAPE = "/"


def _contains(column: Any) -> ColumnElement[bool]:
    return column.icontains(bindparam("q"), escape=_LIKE_ESCAPE)  # type: ignore[no-any-return]


# Each condition a page query may carry; a query is compiled once per set of conditions.
# Activity is a literal, not a parameter: PostgreSQL proves the partial index
# `... WHERE is_active` usable only from a literal, also in a prepared statement's generic plan.
_CONDITIONS: dict[str, ColumnElement[bool]] = {
    "active": _TABLE.is_active.is_(True),
    "inactive": _TABLE.is_active.is_(False),
    "q": or_(_contains(_TABLE.name), _contains(_TABLE.sku), _contains(_TABLE.description)),
    "min_price_cents": _TABLE.price_cents >= bindparam("min_price_cents"),
    "max_price_cents": _TABLE.price_cents <= bindparam("max_price_cents"),
    "in_stock": _TABLE.stock > 0,
    "out_of_stock": _TABLE.stock == 0,
}
_KEYSET = Keyset(_TABLE.created_at, _TABLE.id)


# What a page's ETag is made of (`core.http_cache.rows_etag`): enough to answer a matching
# `If-None-Match` with 304 without reading, decoding or rendering the rest of the rows.
_VERSION_COLUMNS = [_TABLE.id, _TABLE.created_at, _TABLE.updated_at]


@cache
def _page_query(conditions: tuple[str, ...], after_cursor: bool, versions: bool) -> ReadQuery:
    columns = _VERSION_COLUMNS if versions else _COLUMNS
    query = select(*columns).where(*(_CONDITIONS[name] for name in conditions))
    return ReadQuery(_KEYSET.page(query, after_cursor=after_cursor))


_ACTIVE_BY_ID = ReadQuery(
    select(*_COLUMNS).where(_TABLE.id == bindparam("product_id"), _TABLE.is_active.is_(True))
)


def _escaped_like(text: str) -> str:
    for special in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, _LIKE_ESCAPE + special)
    return text


def _page_shape(filters: ProductFilters) -> dict[str, Any]:
    """The conditions of a page query (`_CONDITIONS` keys) mapped to their parameters."""
    shape: dict[str, Any] = {}
    if filters.is_active is not None:
        shape["active" if filters.is_active else "inactive"] = {}
    if filters.q:
        shape["q"] = {"q": _escaped_like(filters.q)}
    if filters.min_price_cents is not None:
        shape["min_price_cents"] = {"min_price_cents": filters.min_price_cents}
    if filters.max_price_cents is not None:
        shape["max_price_cents"] = {"max_price_cents": filters.max_price_cents}
    if filters.in_stock is not None:
        shape["in_stock" if filters.in_stock else "out_of_stock"] = {}
    return shape


async def read_page(
    reader: Reader,
    filters: ProductFilters,
    limit: int,
    cursor: Cursor | None,
    *,
    versions_only: bool = False,
) -> list[Row]:
    """`limit + 1` products, newest first, after `cursor` (fast read path); with
    `versions_only`, only their `id`, `created_at` and `updated_at`."""
    shape = _page_shape(filters)
    params = keyset_params(limit, cursor)
    for values in shape.values():
        params.update(values)
    query = _page_query(tuple(shape), cursor is not None, versions_only)
    return await reader.all(query, **params)


async def read_active(reader: Reader, product_id: uuid.UUID) -> Row | None:
    """An active product (fast read path)."""
    return await reader.first(_ACTIVE_BY_ID, product_id=product_id)


# --------------------------------------------------------------------------- ORM


async def get(session: ReadSession, product_id: uuid.UUID) -> Product | None:
    return await session.get(Product, product_id)


async def get_by_sku(session: ReadSession, sku: str) -> Product | None:
    return await session.scalar(select(Product).where(Product.sku == sku))


async def count(session: ReadSession) -> int:
    return await session.scalar(select(func.count()).select_from(Product)) or 0


async def add(session: WriteSession, product: Product) -> Product:
    session.add(product)
    await session.flush()
    return product


async def flush(session: WriteSession) -> None:
    await session.flush()


# Built once: a statement made per call costs more to construct than to run.
_TAKE_STOCK = (
    update(Product)
    .where(
        Product.id == bindparam("product_id"),
        Product.is_active.is_(True),
        Product.stock >= bindparam("quantity"),
    )
    .values(stock=Product.stock - bindparam("quantity"), updated_at=bindparam("now"))
    .returning(Product.id, Product.sku, Product.name, Product.price_cents, Product.currency)
)


async def take_stock(
    session: WriteSession, product_id: uuid.UUID, quantity: int
) -> ReservedRow | None:
    """Take `quantity` units if the product is active and has them; None otherwise. The
    condition is re-checked on the locked row, so concurrent takers can never oversell.
    (Core on the session's connection: the ORM's bulk-update machinery has nothing to do.)"""
    connection = await session.connection()
    params = {"product_id": product_id, "quantity": quantity, "now": utcnow()}
    row = (await connection.execute(_TAKE_STOCK, params)).one_or_none()
    if row is None:
        return None
    return ReservedRow(
        id=row.id, sku=row.sku, name=row.name, price_cents=row.price_cents, currency=row.currency
    )


async def stock_levels(
    session: ReadSession, product_ids: Sequence[uuid.UUID]
) -> Mapping[uuid.UUID, tuple[bool, int]]:
    """`{id: (is_active, stock)}` of the products that exist."""
    rows = await session.execute(
        select(Product.id, Product.is_active, Product.stock).where(Product.id.in_(product_ids))
    )
    return {row.id: (row.is_active, row.stock) for row in rows}


async def give_back_stock(session: WriteSession, product_id: uuid.UUID, quantity: int) -> None:
    await session.execute(
        update(Product)
        .where(Product.id == product_id)
        .values(stock=Product.stock + quantity, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
