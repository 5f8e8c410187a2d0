"""GET /products and GET /products/{id}: active products only, filters, keyset pages."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from httpx import AsyncClient

from storefront.core.database import utcnow
from tests.support.factories import ProductFactory

PRODUCT_KEYS = {
    "id",
    "sku",
    "name",
    "description",
    "price_cents",
    "currency",
    "stock",
    "is_active",
    "created_at",
    "updated_at",
}


async def test_lists_active_products_newest_first_in_the_documented_shape(
    client: AsyncClient, make_product: ProductFactory
) -> None:
    now = utcnow()
    old = await make_product(name="Old", created_at=now - timedelta(hours=2))
    new = await make_product(name="New", created_at=now - timedelta(hours=1), stock=0)
    await make_product(name="Hidden", is_active=False, created_at=now)

    response = await client.get("/api/v1/products")

    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["items"]] == [str(new.id), str(old.id)]
    assert body["next_cursor"] is None
    item = body["items"][1]
    assert set(item) == PRODUCT_KEYS
    assert item["sku"] == old.sku
    assert item["price_cents"] == 1000
    assert item["currency"] == "EUR"
    assert item["stock"] == 10
    assert item["is_active"] is True
    assert item["created_at"].endswith("Z") or item["created_at"].endswith("+00:00")


async def test_pages_walk_every_active_product_once(
    client: AsyncClient, make_product: ProductFactory
) -> None:
    now = utcnow()
    # Two products share a timestamp: the id breaks the tie.
    created = [now - timedelta(minutes=i // 2) for i in range(7)]
    products = [await make_product(created_at=at) for at in created]
    expected = [
        str(p.id) for p in sorted(products, key=lambda p: (p.created_at, p.id), reverse=True)
    ]

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/api/v1/products", params=params)
        assert response.status_code == 200
        body = response.json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == expected
    assert pages == 3


async def test_pages_are_stable_under_inserts(
    client: AsyncClient, make_product: ProductFactory
) -> None:
    now = utcnow()
    products = [await make_product(created_at=now - timedelta(minutes=i)) for i in range(4)]

    first = (await client.get("/api/v1/products", params={"limit": 2})).json()
    await make_product(created_at=now + timedelta(minutes=1))  # lands on page one
    second = (
        await client.get("/api/v1/products", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()

    assert [i["id"] for i in first["items"] + second["items"]] == [str(p.id) for p in products]


async def test_q_is_a_case_insensitive_substring_of_name_sku_or_description(
    client: AsyncClient, make_product: ProductFactory
) -> None:
    by_name = await make_product(name="Blue Ceramic Mug")
    by_sku = await make_product(sku="CERAMIC-7")
    by_description = await make_product(description="Hand-made ceramic plate")
    await make_product(name="Wooden spoon", description="oak")
    await make_product(name="Ceramic but inactive", is_active=False)

    response = await client.get("/api/v1/products", params={"q": "cErAmIc"})

    assert response.status_code == 200
    assert {i["id"] for i in response.json()["items"]} == {
        str(by_name.id),
        str(by_sku.id),
        str(by_description.id),
    }


async def test_q_wildcards_are_literal(client: AsyncClient, make_product: ProductFactory) -> None:
    percent = await make_product(name="100% cotton")
    await make_product(name="1000 cotton buds")

    response = await client.get("/api/v1/products", params={"q": "0%"})

    assert [i["id"] for i in response.json()["items"]] == [str(percent.id)]
    response = await client.get("/api/v1/products", params={"q": "_"})
    assert response.json()["items"] == []


async def test_price_filters_are_inclusive(
    client: AsyncClient, make_product: ProductFactory
) -> None:
    cheap = await make_product(price_cents=100)
    middle = await make_product(price_cents=500)
    dear = await make_product(price_cents=900)

    async def ids(**params: int) -> set[str]:
        response = await client.get("/api/v1/products", params=params)
        assert response.status_code == 200
        return {i["id"] for i in response.json()["items"]}

    assert await ids(min_price_cents=500) == {str(middle.id), str(dear.id)}
    assert await ids(max_price_cents=500) == {str(cheap.id), str(middle.id)}
    assert await ids(min_price_cents=500, max_price_cents=500) == {str(middle.id)}
    assert await ids(min_price_cents=0, max_price_cents=99) == set()
    # Each bound is valid alone; crossed, they match nothing (an empty page, not an error).
    assert await ids(min_price_cents=501, max_price_cents=499) == set()


async def test_in_stock_filter(client: AsyncClient, make_product: ProductFactory) -> None:
    available = await make_product(stock=3)
    sold_out = await make_product(stock=0)

    response = await client.get("/api/v1/products", params={"in_stock": "true"})
    assert [i["id"] for i in response.json()["items"]] == [str(available.id)]
    response = await client.get("/api/v1/products", params={"in_stock": "false"})
    assert [i["id"] for i in response.json()["items"]] == [str(sold_out.id)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "query.limit"),
        ({"limit": 101}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"cursor": "not-a-cursor"}, "query.cursor"),
        ({"cursor": "bm90fGEtdXVpZA"}, "query.cursor"),  # "not|a-uuid"
        ({"cursor": "x" * 513}, "query.cursor"),
        ({"min_price_cents": -1}, "query.min_price_cents"),
        ({"max_price_cents": 10**12 + 1}, "query.max_price_cents"),
        ({"max_price_cents": "1.5"}, "query.max_price_cents"),
        ({"in_stock": "maybe"}, "query.in_stock"),
        ({"q": ""}, "query.q"),
        ({"q": "x" * 201}, "query.q"),
    ],
)
async def test_bad_list_parameters_are_422(
    client: AsyncClient, make_product: ProductFactory, params: dict[str, object], field: str
) -> None:
    await make_product()

    response = await client.get("/api/v1/products", params=params)  # type: ignore[arg-type]

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in [e["field"] for e in error["details"]["errors"]]


async def test_get_an_active_product(client: AsyncClient, make_product: ProductFactory) -> None:
    product = await make_product(name="Lamp", description="A lamp", price_cents=4200, stock=7)

    response = await client.get(f"/api/v1/products/{product.id}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == PRODUCT_KEYS
    assert body["id"] == str(product.id)
    assert (body["name"], body["description"], body["price_cents"], body["stock"]) == (
        "Lamp",
        "A lamp",
        4200,
        7,
    )


async def test_an_inactive_product_is_404_like_a_missing_one(
    client: AsyncClient, make_product: ProductFactory
) -> None:
    product = await make_product(is_active=False)

    inactive = await client.get(f"/api/v1/products/{product.id}")
    missing = await client.get(f"/api/v1/products/{uuid.uuid4()}")

    for response in (inactive, missing):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"
        assert response.json()["error"]["message"] == "Product not found"


async def test_a_malformed_product_id_is_422(client: AsyncClient) -> None:
    response = await client.get("/api/v1/products/not-a-uuid")

    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["field"] == "path.product_id"
