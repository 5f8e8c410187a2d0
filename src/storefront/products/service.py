"""Business rules of the products domain: the catalogue, and stock for the orders domain.

Other domains use these functions, never the products table: orders calls `reserve_stock`
and `release_stock` inside its own transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError

from storefront.core.database import ReadSession, WriteSession
from storefront.core.pagination import PageParams, Slice
from storefront.core.reads import Reader, Row
from storefront.products import repository
from storefront.products.errors import ProductNotFound, SkuTaken
from storefront.products.models import Product
from storefront.products.repository import ProductFilters
from storefront.products.schemas import ProductCreate, ProductUpdate


@dataclass(frozen=True, slots=True)
class ReservedProduct:
    """What an order copies from the product at order time."""

    product_id: uuid.UUID
    sku: str
    name: str
    price_cents: int
    currency: str


@dataclass(frozen=True, slots=True)
class ShortProduct:
    product_id: uuid.UUID
    requested: int
    available: int


@dataclass(slots=True)
class StockReservation:
    """The outcome of `reserve_stock`. Unless `complete`, the caller must roll back (raise):
    some lines were taken and others were not."""

    reserved: dict[uuid.UUID, ReservedProduct] = field(default_factory=dict)
    unavailable: list[uuid.UUID] = field(default_factory=list)  # unknown or inactive
    short: list[ShortProduct] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.unavailable and not self.short


def _is_sku_violation(exc: IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "sku" in text and ("unique" in text or "duplicate" in text)


def _is_empty_price_range(filters: ProductFilters) -> bool:
    low, high = filters.min_price_cents, filters.max_price_cents
    return low is not None and high is not None and low > high


async def _page(
    reader: Reader, filters: ProductFilters, page: PageParams, *, versions_only: bool = False
) -> Slice[Row]:
    if _is_empty_price_range(filters):
        # Each bound is valid on its own (the OpenAPI document allows it); together they
        # match nothing, which is an empty page rather than an error.
        return Slice(items=[])
    rows = await repository.read_page(
        reader, filters, page.limit, page.cursor, versions_only=versions_only
    )
    return Slice.from_mappings(rows, page.limit)


# --------------------------------------------------------------------------- public


async def list_active_products(
    reader: Reader, filters: ProductFilters, page: PageParams, *, versions_only: bool = False
) -> Slice[Row]:
    """Active products; with `versions_only`, just what tells whether a page changed (its
    rows' ids and `updated_at`, and its cursor), for a revalidation."""
    active_only = ProductFilters(
        q=filters.q,
        min_price_cents=filters.min_price_cents,
        max_price_cents=filters.max_price_cents,
        in_stock=filters.in_stock,
        is_active=True,
    )
    return await _page(reader, active_only, page, versions_only=versions_only)


async def get_active_product(reader: Reader, product_id: uuid.UUID) -> Row:
    product = await repository.read_active(reader, product_id)
    if product is None:
        raise ProductNotFound
    return product


# --------------------------------------------------------------------------- admin


async def list_products(reader: Reader, filters: ProductFilters, page: PageParams) -> Slice[Row]:
    return await _page(reader, filters, page)


async def get_product(session: ReadSession, product_id: uuid.UUID) -> Product:
    product = await repository.get(session, product_id)
    if product is None:
        raise ProductNotFound
    return product


async def create_product(session: WriteSession, data: ProductCreate) -> Product:
    if await repository.get_by_sku(session, data.sku) is not None:
        raise SkuTaken(data.sku)
    try:
        return await repository.add(session, Product(**data.model_dump()))
    except IntegrityError as exc:  # a concurrent insert of the same SKU won the race
        if _is_sku_violation(exc):
            raise SkuTaken(data.sku) from None
        raise


async def update_product(
    session: WriteSession, product_id: uuid.UUID, data: ProductUpdate
) -> Product:
    product = await get_product(session, product_id)
    changes = data.changes()
    new_sku = changes.get("sku")
    if (
        new_sku is not None
        and new_sku != product.sku
        and await repository.get_by_sku(session, new_sku) is not None
    ):
        raise SkuTaken(new_sku)
    for name, value in changes.items():
        setattr(product, name, value)
    try:
        await repository.flush(session)
    except IntegrityError as exc:
        if new_sku is not None and _is_sku_violation(exc):
            raise SkuTaken(new_sku) from None
        raise
    return product


async def deactivate_product(session: WriteSession, product_id: uuid.UUID) -> None:
    """Products are never deleted: order lines keep referring to them."""
    product = await get_product(session, product_id)
    product.is_active = False
    await repository.flush(session)


# --------------------------------------------------------------------------- stock


async def reserve_stock(
    session: WriteSession, quantities: Mapping[uuid.UUID, int]
) -> StockReservation:
    """Take stock for every product of an order, in the caller's transaction.

    Rows are locked in product-id order, so concurrent orders over the same products queue
    instead of deadlocking. Every product is tried (so that a refusal names all the short
    ones); if the result is not `complete`, the caller raises and the transaction rolls back.
    """
    reservation = StockReservation()
    missed: list[uuid.UUID] = []
    for product_id in sorted(quantities):
        row = await repository.take_stock(session, product_id, quantities[product_id])
        if row is None:
            missed.append(product_id)
            continue
        reservation.reserved[product_id] = ReservedProduct(
            product_id=row.id,
            sku=row.sku,
            name=row.name,
            price_cents=row.price_cents,
            currency=row.currency,
        )
    if missed:
        levels = await repository.stock_levels(session, missed)
        for product_id in missed:
            is_active, stock = levels.get(product_id, (False, 0))
            if not is_active:
                reservation.unavailable.append(product_id)
            else:
                reservation.short.append(
                    ShortProduct(
                        product_id=product_id,
                        requested=quantities[product_id],
                        available=stock,
                    )
                )
    return reservation


async def release_stock(session: WriteSession, quantities: Mapping[uuid.UUID, int]) -> None:
    """Give stock back (a cancelled order), in product-id order like `reserve_stock`."""
    for product_id in sorted(quantities):
        await repository.give_back_stock(session, product_id, quantities[product_id])
