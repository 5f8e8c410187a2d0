"""HTTP caching of the public catalogue: strong ETag, Cache-Control, 304 (RFC 9110)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from storefront.main import create_app
from tests.support.clients import make_client
from tests.support.environment import make_settings
from tests.support.factories import ProductFactory, TestUser
from tests.support.rows import record_statements

PRODUCTS = "/api/v1/products"
# httpx asks for gzip by default; most tests look at the identity representation.
IDENTITY = {"Accept-Encoding": "identity"}
PUBLIC_CACHE = "public, max-age=30, stale-while-revalidate=30"


async def get(client: AsyncClient, url: str, **headers: str) -> Response:
    return await client.get(url, headers={**IDENTITY, **headers})


def assert_not_modified(response: Response, etag: str) -> None:
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == PUBLIC_CACHE
    assert "content-type" not in response.headers


async def test_a_page_and_a_product_carry_a_strong_tag_stable_across_reads(
    client: AsyncClient, make_product: ProductFactory
) -> None:
    product = await make_product()
    for url in (PRODUCTS, f"{PRODUCTS}/{product.id}"):
        first, second = await get(client, url), await get(client, url)
        assert first.status_code == second.status_code == 200
        etag = first.headers["etag"]
        assert etag.startswith('"')  # strong: no W/
        assert etag.endswith('"')
        assert second.headers["etag"] == etag
        assert first.headers["cache-control"] == PUBLIC_CACHE


async def test_different_pages_have_different_tags(
    client: AsyncClient, make_product: ProductFactory
) -> None:
    for _ in range(3):
        await make_product()
    tags = {
        (await get(client, f"{PRODUCTS}?{query}")).headers["etag"]
        for query in ("limit=1", "limit=2", "limit=3", "in_stock=false")
    }
    assert len(tags) == 4


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/{id}", {"price_cents": 1234}),
        ("PATCH", "/{id}", {"stock": 3}),
        ("PATCH", "/{id}", {"name": "Renamed"}),
        ("DELETE", "/{id}", None),
    ],
)
async def test_an_admin_change_changes_the_tags(
    client: AsyncClient,
    admin: TestUser,
    make_product: ProductFactory,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    product = await make_product()
    item_url = f"{PRODUCTS}/{product.id}"
    page_tag = (await get(client, PRODUCTS)).headers["etag"]
    item_tag = (await get(client, item_url)).headers["etag"]

    changed = await client.request(
        method,
        f"/api/v1/admin/products{path.format(id=product.id)}",
        json=body,
        headers=admin.headers,
    )
    assert changed.status_code in (200, 204)

    page = await get(client, PRODUCTS, **{"If-None-Match": page_tag})
    assert page.status_code == 200
    assert page.headers["etag"] != page_tag
    item = await get(client, item_url, **{"If-None-Match": item_tag})
    if method == "DELETE":  # deactivated: gone from the catalogue
        assert item.status_code == 404
        assert page.json()["items"] == []
    else:
        assert item.status_code == 200
        assert item.headers["etag"] != item_tag


async def test_stock_taken_by_an_order_changes_the_tag(
    client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(stock=5)
    item_url = f"{PRODUCTS}/{product.id}"
    before = await get(client, item_url)

    order = await client.post(
        "/api/v1/orders",
        json={"items": [{"product_id": str(product.id), "quantity": 2}]},
        headers=customer.headers,
    )
    assert order.status_code == 201

    after = await get(client, item_url, **{"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.json()["stock"] == 3
    assert after.headers["etag"] != before.headers["etag"]


@pytest.mark.parametrize(
    "if_none_match",
    [
        "{tag}",
        "W/{tag}",  # weak comparison (RFC 9110 §8.8.3.2)
        '"other", {tag}, "another"',
        '"other",W/{tag}',
        '"has,comma", {tag}',
        "*",
    ],
)
async def test_a_matching_if_none_match_answers_304_without_a_body(
    client: AsyncClient, make_product: ProductFactory, if_none_match: str
) -> None:
    product = await make_product()
    for url in (PRODUCTS, f"{PRODUCTS}/{product.id}"):
        etag = (await get(client, url)).headers["etag"]
        response = await get(client, url, **{"If-None-Match": if_none_match.format(tag=etag)})
        assert_not_modified(response, etag)


async def test_head_carries_the_tag_and_answers_304_too(
    client: AsyncClient, make_product: ProductFactory
) -> None:
    await make_product()
    etag = (await get(client, PRODUCTS)).headers["etag"]
    head = await client.head(PRODUCTS, headers=IDENTITY)
    assert head.status_code == 200
    assert head.headers["etag"] == etag
    response = await client.head(PRODUCTS, headers={**IDENTITY, "If-None-Match": etag})
    assert_not_modified(response, etag)


@pytest.mark.parametrize(
    "if_none_match", ['"nope"', 'W/"nope", "nada"', "{bare}", "not a tag", '"{bare}x"']
)
async def test_a_tag_that_does_not_match_answers_200_with_the_body(
    client: AsyncClient, make_product: ProductFactory, if_none_match: str
) -> None:
    product = await make_product()
    url = f"{PRODUCTS}/{product.id}"
    etag = (await get(client, url)).headers["etag"]
    header = if_none_match.format(bare=etag.strip('"'))
    response = await get(client, url, **{"If-None-Match": header})
    assert response.status_code == 200
    assert response.json()["id"] == str(product.id)
    assert response.headers["etag"] == etag


async def test_a_compressed_page_has_its_own_strong_tag_and_revalidates(
    client: AsyncClient, make_product: ProductFactory
) -> None:
    for _ in range(8):  # a page over the compression threshold (1 KiB)
        await make_product(description="A product description long enough to compress. " * 2)
    plain = await get(client, PRODUCTS)
    compressed = await client.get(PRODUCTS, headers={"Accept-Encoding": "gzip"})

    assert compressed.headers["content-encoding"] == "gzip"
    tag = plain.headers["etag"]
    assert compressed.headers["etag"] == f'{tag[:-1]}-gzip"'
    assert compressed.json() == plain.json()  # httpx decoded it: same representation data

    again = await client.get(
        PRODUCTS, headers={"Accept-Encoding": "gzip", "If-None-Match": compressed.headers["etag"]}
    )
    assert_not_modified(again, compressed.headers["etag"])
    # The identity tag still validates the same data when the client asks without gzip.
    assert_not_modified(await get(client, PRODUCTS, **{"If-None-Match": tag}), tag)


async def test_a_request_with_authorization_is_never_cached_nor_304(
    client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    product = await make_product()
    for url in (PRODUCTS, f"{PRODUCTS}/{product.id}"):
        etag = (await get(client, url)).headers["etag"]
        for if_none_match in (etag, "*"):
            response = await get(
                client, url, **customer.headers, **{"If-None-Match": if_none_match}
            )
            assert response.status_code == 200
            assert response.headers["cache-control"] == "no-store"
            assert "etag" not in response.headers


@pytest.mark.parametrize("url", ["/api/v1/users/me", "/api/v1/orders"])
async def test_routes_of_the_caller_are_never_304_and_stay_no_store(
    client: AsyncClient, customer: TestUser, url: str
) -> None:
    response = await get(client, url, **customer.headers, **{"If-None-Match": "*"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers


async def test_admin_product_list_is_never_cached(
    client: AsyncClient, admin: TestUser, make_product: ProductFactory
) -> None:
    await make_product()
    response = await get(
        client, "/api/v1/admin/products", **admin.headers, **{"If-None-Match": "*"}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers


async def test_errors_of_the_catalogue_are_not_cacheable(client: AsyncClient) -> None:
    missing = await get(client, f"{PRODUCTS}/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.headers["cache-control"] == "no-store"
    assert "etag" not in missing.headers
    bad = await get(client, f"{PRODUCTS}?limit=0", **{"If-None-Match": "*"})
    assert bad.status_code == 422
    assert bad.headers["cache-control"] == "no-store"


async def test_cache_lifetimes_are_settings(database_url: str) -> None:
    app = create_app(
        make_settings(
            database_url,
            catalogue_max_age_seconds=120,
            catalogue_stale_while_revalidate_seconds=600,
        )
    )
    async with app.router.lifespan_context(app), make_client(app) as http:
        response = await get(http, PRODUCTS)
    assert response.headers["cache-control"] == "public, max-age=120, stale-while-revalidate=600"


async def test_cors_exposes_etag_and_allows_if_none_match(client: AsyncClient) -> None:
    origin = "http://localhost:5173"
    response = await get(client, PRODUCTS, Origin=origin)
    exposed = [
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    ]
    assert "etag" in exposed
    preflight = await client.options(
        PRODUCTS,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )
    assert preflight.status_code == 200
    assert "if-none-match" in preflight.headers["access-control-allow-headers"].lower()


async def test_a_revalidated_page_reads_only_the_rows_versions(
    app: FastAPI, client: AsyncClient, make_product: ProductFactory
) -> None:
    """A 304 for a page costs one statement of ids and times: no row is read in full, nothing
    is rendered (a mismatch then reads the page as usual)."""
    await make_product(description="a long description the 304 never reads")
    tag = (await client.get(PRODUCTS)).headers["etag"]

    async with record_statements(app) as statements:
        not_modified = await client.get(PRODUCTS, headers={"If-None-Match": tag})

    assert not_modified.status_code == 304
    assert len(statements) == 1
    assert "description" not in statements[0]
    assert "updated_at" in statements[0]
