"""HTTP routes of the products domain."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from storefront.core.database import ReaderDep, WriteSessionDep
from storefront.core.http_cache import (
    IfNoneMatchHeader,
    cacheable_responses,
    cached_or_not_modified,
    revalidating,
    rows_etag,
)
from storefront.core.openapi import error_responses
from storefront.core.pagination import Page, PageParamsDep
from storefront.core.responses import json_response, page_response
from storefront.products import service
from storefront.products.errors import ProductNotFound, SkuTaken
from storefront.products.repository import ProductFilters
from storefront.products.schemas import (
    MAX_PRICE_CENTS,
    ProductCreate,
    ProductRead,
    ProductUpdate,
)
from storefront.users.dependencies import ADMIN_ERRORS, AdminUser

router = APIRouter(tags=["products"])
admin_router = APIRouter(tags=["admin"])

ProductPage = Page[ProductRead]  # subscripted once: the tag of every page names its schema

SearchQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description="Case-insensitive substring of the name, SKU or description.",
    ),
]
PriceQuery = Annotated[int | None, Query(ge=0, le=MAX_PRICE_CENTS)]
InStockQuery = Annotated[
    bool | None, Query(description="true: stock > 0; false: out of stock (stock = 0).")
]


# --------------------------------------------------------------------------- public


@router.get("", response_model=ProductPage, responses=cacheable_responses())
async def search(
    request: Request,
    response: Response,
    reader: ReaderDep,
    page: PageParamsDep,
    q: SearchQuery = None,
    min_price_cents: PriceQuery = None,
    max_price_cents: PriceQuery = None,
    in_stock: InStockQuery = None,
    _if_none_match: IfNoneMatchHeader = None,  # for the document; every line is read below
) -> Response:
    """Active products, newest first. Cacheable: `ETag`, and 304 for a matching
    `If-None-Match`."""
    filters = ProductFilters(
        q=q, min_price_cents=min_price_cents, max_price_cents=max_price_cents, in_stock=in_stock
    )
    if revalidating(request):
        # A client holding a page asks whether it changed: the versions answer that.
        versions = await service.list_active_products(reader, filters, page, versions_only=True)
        etag = rows_etag(ProductPage, versions.items, versions.next_cursor)
        if (not_modified := cached_or_not_modified(request, response, etag)) is not None:
            return not_modified
    found = await service.list_active_products(reader, filters, page)
    etag = rows_etag(ProductPage, found.items, found.next_cursor)
    if (not_modified := cached_or_not_modified(request, response, etag)) is not None:
        return not_modified
    return page_response(ProductRead, found, headers=response.headers)


@router.get(
    "/{product_id}",
    response_model=ProductRead,
    responses={**cacheable_responses(), **error_responses(ProductNotFound)},
)
async def get(
    product_id: uuid.UUID,
    request: Request,
    response: Response,
    reader: ReaderDep,
    _if_none_match: IfNoneMatchHeader = None,  # for the document; every line is read below
) -> Response:
    """An active product (an inactive one is a 404). Cacheable: `ETag`, and 304 for a
    matching `If-None-Match`."""
    product = await service.get_active_product(reader, product_id)
    etag = rows_etag(ProductRead, [product])
    if (not_modified := cached_or_not_modified(request, response, etag)) is not None:
        return not_modified
    return json_response(ProductRead, product, headers=response.headers)


# --------------------------------------------------------------------------- admin


@admin_router.get("", response_model=Page[ProductRead], responses=error_responses(*ADMIN_ERRORS))
async def list_products(
    _admin: AdminUser,
    reader: ReaderDep,
    page: PageParamsDep,
    q: SearchQuery = None,
    min_price_cents: PriceQuery = None,
    max_price_cents: PriceQuery = None,
    in_stock: InStockQuery = None,
    is_active: Annotated[bool | None, Query()] = None,
) -> Response:
    """Every product, inactive ones included, newest first."""
    filters = ProductFilters(
        q=q,
        min_price_cents=min_price_cents,
        max_price_cents=max_price_cents,
        in_stock=in_stock,
        is_active=is_active,
    )
    return page_response(ProductRead, await service.list_products(reader, filters, page))


@admin_router.post(
    "",
    response_model=ProductRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*ADMIN_ERRORS, SkuTaken),
)
async def create_product(
    data: ProductCreate, _admin: AdminUser, session: WriteSessionDep
) -> ProductRead:
    """Create a product; 409 `SKU_TAKEN` when the SKU exists."""
    return ProductRead.model_validate(await service.create_product(session, data))


@admin_router.patch(
    "/{product_id}",
    response_model=ProductRead,
    responses=error_responses(*ADMIN_ERRORS, ProductNotFound, SkuTaken),
)
async def update_product(
    product_id: uuid.UUID, data: ProductUpdate, _admin: AdminUser, session: WriteSessionDep
) -> ProductRead:
    """Change any field; 409 `SKU_TAKEN` when the new SKU exists."""
    return ProductRead.model_validate(await service.update_product(session, product_id, data))


@admin_router.delete(
    "/{product_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(*ADMIN_ERRORS, ProductNotFound),
)
async def deactivate_product(
    product_id: uuid.UUID, _admin: AdminUser, session: WriteSessionDep
) -> None:
    """Deactivate the product (it stays in order history and in the admin list)."""
    await service.deactivate_product(session, product_id)
