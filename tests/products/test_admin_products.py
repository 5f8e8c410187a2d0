"""The admin catalogue: list (inactive included), create, update, deactivate."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.products.models import Product
from tests.support.factories import ProductFactory, TestUser
from tests.support.rows import products_state

BASE = "/api/v1/admin/products"
VALID = {
    "sku": "mug-001",
    "name": "  Blue mug ",
    "description": "330 ml",
    "price_cents": 1290,
    "currency": "EUR",
    "stock": 12,
}


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "", None),
        ("POST", "", VALID),
        ("PATCH", "/{id}", {"stock": 1}),
        ("DELETE", "/{id}", None),
    ],
)
async def test_admin_routes_need_an_admin(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    make_product: ProductFactory,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    product = await make_product()
    before = await products_state(app)
    url = BASE + path.format(id=product.id)

    anonymous = await client.request(method, url, json=body)
    as_customer = await client.request(method, url, json=body, headers=customer.headers)

    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert anonymous.json()["error"]["code"] == "UNAUTHORIZED"
    assert as_customer.status_code == 403
    assert as_customer.json()["error"]["code"] == "FORBIDDEN"
    assert await products_state(app) == before


# --------------------------------------------------------------------------- list


async def test_admin_list_includes_inactive_and_filters_by_is_active(
    client: AsyncClient, admin: TestUser, make_product: ProductFactory
) -> None:
    active = await make_product(name="Shown")
    inactive = await make_product(name="Retired", is_active=False)

    everything = await client.get(BASE, headers=admin.headers)
    only_inactive = await client.get(BASE, params={"is_active": "false"}, headers=admin.headers)
    searched = await client.get(BASE, params={"q": "retired"}, headers=admin.headers)

    assert everything.status_code == 200
    assert {i["id"] for i in everything.json()["items"]} == {str(active.id), str(inactive.id)}
    assert [i["id"] for i in only_inactive.json()["items"]] == [str(inactive.id)]
    assert [i["id"] for i in searched.json()["items"]] == [str(inactive.id)]


async def test_admin_list_paginates(
    client: AsyncClient, admin: TestUser, make_product: ProductFactory
) -> None:
    for _ in range(3):
        await make_product(is_active=False)

    first = await client.get(BASE, params={"limit": 2}, headers=admin.headers)
    second = await client.get(
        BASE, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=admin.headers
    )
    bad = await client.get(BASE, params={"limit": 101}, headers=admin.headers)

    assert len(first.json()["items"]) == 2
    assert len(second.json()["items"]) == 1
    assert second.json()["next_cursor"] is None
    assert bad.status_code == 422


# --------------------------------------------------------------------------- create


async def test_create_product(client: AsyncClient, admin: TestUser, db: AsyncSession) -> None:
    response = await client.post(BASE, json=VALID, headers=admin.headers)

    assert response.status_code == 201
    body = response.json()
    assert body["sku"] == "MUG-001"  # stored upper-case
    assert body["name"] == "Blue mug"  # trimmed
    assert (body["price_cents"], body["currency"], body["stock"], body["is_active"]) == (
        1290,
        "EUR",
        12,
        True,
    )
    product = await db.get(Product, uuid.UUID(body["id"]))
    assert product is not None
    assert (product.sku, product.name, product.description, product.price_cents) == (
        "MUG-001",
        "Blue mug",
        "330 ml",
        1290,
    )


async def test_create_with_defaults_and_the_largest_values(
    client: AsyncClient, admin: TestUser
) -> None:
    response = await client.post(
        BASE,
        json={"sku": "B" * 64, "name": "N" * 200, "price_cents": 10**12, "stock": 10**9},
        headers=admin.headers,
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["currency"], body["description"], body["is_active"]) == ("EUR", "", True)
    assert (body["price_cents"], body["stock"]) == (10**12, 10**9)


async def test_a_taken_sku_is_409_in_any_case(
    app: FastAPI, client: AsyncClient, admin: TestUser, make_product: ProductFactory
) -> None:
    await make_product(sku="MUG-001")
    before = await products_state(app)

    response = await client.post(BASE, json=VALID, headers=admin.headers)  # "mug-001"

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "SKU_TAKEN"
    assert error["details"] == {"sku": "MUG-001"}
    assert await products_state(app) == before


BAD_FIELDS: list[tuple[str, Any]] = [
    ("sku", ""),
    ("sku", "A" * 65),
    ("sku", "has space"),
    ("sku", "-leading-dash"),
    ("sku", "ÄÖÜ"),
    ("sku", 123),
    ("name", ""),
    ("name", "   "),
    ("name", "x" * 201),
    ("name", None),
    ("description", "d" * 5001),
    ("description", None),
    ("price_cents", -1),
    ("price_cents", 10**12 + 1),
    ("price_cents", 10**30),
    ("price_cents", 12.5),
    ("price_cents", "1290"),
    ("price_cents", True),
    ("price_cents", None),
    ("currency", "eur"),
    ("currency", "EURO"),
    ("currency", "E1R"),
    ("currency", ""),
    ("currency", None),
    ("stock", -1),
    ("stock", 10**9 + 1),
    ("stock", 1.5),
    ("stock", "3"),
    ("stock", None),
    ("is_active", "yes"),
    ("is_active", None),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
async def test_create_rejects_bad_values(
    app: FastAPI, client: AsyncClient, admin: TestUser, field: str, value: Any
) -> None:
    response = await client.post(BASE, json={**VALID, field: value}, headers=admin.headers)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert f"body.{field}" in [e["field"] for e in error["details"]["errors"]]
    assert await products_state(app) == []


async def test_whole_numbers_written_as_floats_are_integers(
    client: AsyncClient, admin: TestUser
) -> None:
    # To JSON Schema, and so to the OpenAPI document, 1290.0 is the integer 1290.
    response = await client.post(
        BASE, json={**VALID, "price_cents": 1290.0, "stock": 12.0}, headers=admin.headers
    )

    assert response.status_code == 201
    assert (response.json()["price_cents"], response.json()["stock"]) == (1290, 12)


@pytest.mark.parametrize("missing", ["sku", "name", "price_cents"])
async def test_create_requires_fields(
    app: FastAPI, client: AsyncClient, admin: TestUser, missing: str
) -> None:
    body = {k: v for k, v in VALID.items() if k != missing}

    response = await client.post(BASE, json=body, headers=admin.headers)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["field"] == f"body.{missing}"
    assert await products_state(app) == []


async def test_create_rejects_unknown_fields(
    app: FastAPI, client: AsyncClient, admin: TestUser
) -> None:
    response = await client.post(
        BASE,
        json={**VALID, "id": str(uuid.uuid4()), "created_at": "2020-01-01T00:00:00Z"},
        headers=admin.headers,
    )

    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["error"]["details"]["errors"]}
    assert fields == {"body.id", "body.created_at"}
    assert await products_state(app) == []


async def test_create_needs_a_json_body(app: FastAPI, client: AsyncClient, admin: TestUser) -> None:
    form = await client.post(BASE, data={"sku": "X1"}, headers=admin.headers)
    text = await client.post(
        BASE, content="sku=X1", headers={**admin.headers, "Content-Type": "text/plain"}
    )
    array = await client.post(BASE, json=[VALID], headers=admin.headers)

    assert form.status_code == 415
    assert form.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert text.status_code == 415
    assert array.status_code == 422
    assert await products_state(app) == []


# --------------------------------------------------------------------------- update


async def test_update_any_field(
    client: AsyncClient, admin: TestUser, make_product: ProductFactory, db: AsyncSession
) -> None:
    product = await make_product(sku="OLD-1")
    change = {
        "sku": "new-1",
        "name": "Renamed",
        "description": "Now with a lid",
        "price_cents": 0,
        "currency": "USD",
        "stock": 0,
        "is_active": False,
    }

    response = await client.patch(f"{BASE}/{product.id}", json=change, headers=admin.headers)

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in change} == {**change, "sku": "NEW-1"}
    assert body["updated_at"] > body["created_at"]
    stored = await db.get(Product, product.id)
    assert stored is not None
    assert (stored.sku, stored.price_cents, stored.currency, stored.stock, stored.is_active) == (
        "NEW-1",
        0,
        "USD",
        0,
        False,
    )


async def test_update_only_the_given_fields(
    client: AsyncClient, admin: TestUser, make_product: ProductFactory
) -> None:
    product = await make_product(name="Keep", price_cents=500, stock=4)

    response = await client.patch(f"{BASE}/{product.id}", json={"stock": 9}, headers=admin.headers)
    same_sku = await client.patch(
        f"{BASE}/{product.id}", json={"sku": product.sku.lower()}, headers=admin.headers
    )

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["price_cents"]) == ("Keep", 500)
    assert response.json()["stock"] == 9
    assert same_sku.status_code == 200
    assert same_sku.json()["sku"] == product.sku


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
async def test_update_rejects_bad_values_and_nulls(
    app: FastAPI,
    client: AsyncClient,
    admin: TestUser,
    make_product: ProductFactory,
    field: str,
    value: Any,
) -> None:
    product = await make_product()
    before = await products_state(app)

    response = await client.patch(
        f"{BASE}/{product.id}", json={field: value}, headers=admin.headers
    )

    assert response.status_code == 422
    assert f"body.{field}" in [e["field"] for e in response.json()["error"]["details"]["errors"]]
    assert await products_state(app) == before


async def test_update_to_a_taken_sku_is_409(
    app: FastAPI, client: AsyncClient, admin: TestUser, make_product: ProductFactory
) -> None:
    await make_product(sku="TAKEN")
    product = await make_product(sku="MINE")
    before = await products_state(app)

    response = await client.patch(
        f"{BASE}/{product.id}", json={"sku": "taken", "stock": 1}, headers=admin.headers
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "SKU_TAKEN"
    assert await products_state(app) == before


async def test_update_rejects_unknown_fields_and_ids(
    app: FastAPI, client: AsyncClient, admin: TestUser, make_product: ProductFactory
) -> None:
    product = await make_product()
    before = await products_state(app)

    unknown_field = await client.patch(
        f"{BASE}/{product.id}", json={"id": str(uuid.uuid4())}, headers=admin.headers
    )
    missing = await client.patch(f"{BASE}/{uuid.uuid4()}", json={"stock": 1}, headers=admin.headers)
    malformed = await client.patch(f"{BASE}/123", json={"stock": 1}, headers=admin.headers)
    text = await client.patch(
        f"{BASE}/{product.id}",
        content="stock=1",
        headers={**admin.headers, "Content-Type": "text/plain"},
    )

    assert unknown_field.status_code == 422
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    assert malformed.status_code == 422
    assert malformed.json()["error"]["details"]["errors"][0]["field"] == "path.product_id"
    assert text.status_code == 415
    assert await products_state(app) == before


# --------------------------------------------------------------------------- delete


async def test_delete_deactivates(
    client: AsyncClient, admin: TestUser, make_product: ProductFactory, db: AsyncSession
) -> None:
    product = await make_product()

    response = await client.delete(f"{BASE}/{product.id}", headers=admin.headers)
    again = await client.delete(f"{BASE}/{product.id}", headers=admin.headers)

    assert response.status_code == 204
    assert response.content == b""
    assert again.status_code == 204
    stored = await db.scalar(select(Product).where(Product.id == product.id))
    assert stored is not None
    assert stored.is_active is False
    assert (await client.get(f"/api/v1/products/{product.id}")).status_code == 404
    assert (await client.get("/api/v1/products")).json()["items"] == []
    admin_list = await client.get(BASE, headers=admin.headers)
    assert [i["id"] for i in admin_list.json()["items"]] == [str(product.id)]
    assert admin_list.json()["items"][0]["is_active"] is False


async def test_delete_unknown_or_malformed(
    app: FastAPI, client: AsyncClient, admin: TestUser, make_product: ProductFactory
) -> None:
    await make_product()
    before = await products_state(app)

    missing = await client.delete(f"{BASE}/{uuid.uuid4()}", headers=admin.headers)
    malformed = await client.delete(f"{BASE}/nope", headers=admin.headers)

    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    assert malformed.status_code == 422
    assert await products_state(app) == before
