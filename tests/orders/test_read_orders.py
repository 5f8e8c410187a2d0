"""Reading orders: the caller's own (list and one), the admin's views, and no N+1."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from tests.support.clients import place_order
from tests.support.factories import ProductFactory, TestUser, UserFactory
from tests.support.rows import record_statements, set_order_status

URL = "/api/v1/orders"
ADMIN_URL = "/api/v1/admin/orders"


async def test_list_my_orders_newest_first(
    client: AsyncClient,
    customer: TestUser,
    make_user: UserFactory,
    make_product: ProductFactory,
) -> None:
    other = await make_user()
    mine = [await place_order(client, customer, make_product) for _ in range(3)]
    await place_order(client, other, make_product)

    response = await client.get(URL, headers=customer.headers)

    assert response.status_code == 200
    body = response.json()
    assert [o["id"] for o in body["items"]] == [o["id"] for o in reversed(mine)]
    assert body["items"][0] == mine[-1]
    assert body["next_cursor"] is None
    assert response.headers["Cache-Control"] == "no-store"


async def test_list_my_orders_by_status_and_page_by_page(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    orders = [await place_order(client, customer, make_product) for _ in range(5)]
    for order in orders[:3]:
        await set_order_status(app, order["id"], "paid")

    paid = await client.get(URL, params={"status": "paid"}, headers=customer.headers)
    first = await client.get(URL, params={"limit": 2}, headers=customer.headers)
    second = await client.get(
        URL, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=customer.headers
    )
    third = await client.get(
        URL, params={"limit": 2, "cursor": second.json()["next_cursor"]}, headers=customer.headers
    )

    assert {o["id"] for o in paid.json()["items"]} == {o["id"] for o in orders[:3]}
    assert {o["status"] for o in paid.json()["items"]} == {"paid"}
    walked = [o["id"] for page in (first, second, third) for o in page.json()["items"]]
    assert walked == [o["id"] for o in reversed(orders)]
    assert third.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "refunded"}, "query.status"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 101}, "query.limit"),
        ({"cursor": "%%%"}, "query.cursor"),
        ({"cursor": "MjAyNC0wMS0wMXxub3BlCg"}, "query.cursor"),
    ],
)
async def test_bad_list_parameters_are_422(
    client: AsyncClient, customer: TestUser, params: dict[str, Any], field: str
) -> None:
    response = await client.get(URL, params=params, headers=customer.headers)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert field in [e["field"] for e in response.json()["error"]["details"]["errors"]]


async def test_get_my_order(
    client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    order = await place_order(client, customer, make_product, lines=3)

    response = await client.get(f"{URL}/{order['id']}", headers=customer.headers)

    assert response.status_code == 200
    assert response.json() == order
    assert len(response.json()["items"]) == 3


async def test_someone_elses_order_is_404_like_a_missing_one(
    client: AsyncClient,
    customer: TestUser,
    make_user: UserFactory,
    make_product: ProductFactory,
) -> None:
    other = await make_user()
    theirs = await place_order(client, other, make_product)

    foreign = await client.get(f"{URL}/{theirs['id']}", headers=customer.headers)
    missing = await client.get(f"{URL}/{uuid.uuid4()}", headers=customer.headers)

    assert foreign.status_code == missing.status_code == 404

    def strip(response: Response) -> dict[str, Any]:
        return {k: v for k, v in response.json()["error"].items() if k != "request_id"}

    assert (
        strip(foreign)
        == strip(missing)
        == {
            "code": "NOT_FOUND",
            "message": "Order not found",
            "details": {},
        }
    )


async def test_reading_orders_needs_a_user_and_a_uuid(
    client: AsyncClient, customer: TestUser
) -> None:
    anonymous = await client.get(URL)
    anonymous_one = await client.get(f"{URL}/{uuid.uuid4()}")
    malformed = await client.get(f"{URL}/12345", headers=customer.headers)

    assert anonymous.status_code == anonymous_one.status_code == 401
    assert malformed.status_code == 422
    assert malformed.json()["error"]["details"]["errors"][0]["field"] == "path.order_id"


async def test_admin_lists_every_order_with_filters(
    app: FastAPI,
    client: AsyncClient,
    admin: TestUser,
    customer: TestUser,
    make_user: UserFactory,
    make_product: ProductFactory,
) -> None:
    other = await make_user()
    mine = await place_order(client, customer, make_product)
    theirs = await place_order(client, other, make_product)
    await set_order_status(app, theirs["id"], "shipped")

    everything = await client.get(ADMIN_URL, headers=admin.headers)
    by_user = await client.get(
        ADMIN_URL, params={"user_id": str(customer.id)}, headers=admin.headers
    )
    by_status = await client.get(ADMIN_URL, params={"status": "shipped"}, headers=admin.headers)
    both = await client.get(
        ADMIN_URL, params={"status": "shipped", "user_id": str(customer.id)}, headers=admin.headers
    )
    page = await client.get(ADMIN_URL, params={"limit": 1}, headers=admin.headers)

    assert [o["id"] for o in everything.json()["items"]] == [theirs["id"], mine["id"]]
    assert [o["id"] for o in by_user.json()["items"]] == [mine["id"]]
    assert [o["id"] for o in by_status.json()["items"]] == [theirs["id"]]
    assert both.json()["items"] == []
    assert len(page.json()["items"]) == 1
    assert page.json()["next_cursor"] is not None


@pytest.mark.parametrize(
    "params",
    [{"user_id": "nope"}, {"status": "lost"}, {"limit": 0}, {"limit": 101}, {"cursor": "!"}],
)
async def test_admin_list_bad_parameters_are_422(
    client: AsyncClient, admin: TestUser, params: dict[str, Any]
) -> None:
    response = await client.get(ADMIN_URL, params=params, headers=admin.headers)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_admin_gets_any_order(
    client: AsyncClient,
    admin: TestUser,
    customer: TestUser,
    make_product: ProductFactory,
) -> None:
    order = await place_order(client, customer, make_product)

    found = await client.get(f"{ADMIN_URL}/{order['id']}", headers=admin.headers)
    missing = await client.get(f"{ADMIN_URL}/{uuid.uuid4()}", headers=admin.headers)
    malformed = await client.get(f"{ADMIN_URL}/x", headers=admin.headers)

    assert found.status_code == 200
    assert found.json() == order
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    assert malformed.status_code == 422


async def test_admin_order_routes_need_an_admin(
    client: AsyncClient, customer: TestUser, make_product: ProductFactory
) -> None:
    order = await place_order(client, customer, make_product)

    for method, path, body in (
        ("GET", ADMIN_URL, None),
        ("GET", f"{ADMIN_URL}/{order['id']}", None),
        ("POST", f"{ADMIN_URL}/{order['id']}/status", {"status": "paid"}),
    ):
        anonymous = await client.request(method, path, json=body)
        as_customer = await client.request(method, path, json=body, headers=customer.headers)
        assert anonymous.status_code == 401
        assert as_customer.status_code == 403
        assert as_customer.json()["error"]["code"] == "FORBIDDEN"
    mine = await client.get(f"{URL}/{order['id']}", headers=customer.headers)
    assert mine.json()["status"] == "pending"


@pytest.mark.parametrize("path", [URL, ADMIN_URL])
async def test_a_page_of_orders_takes_a_constant_number_of_statements(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    admin: TestUser,
    make_product: ProductFactory,
    path: str,
    is_postgres: bool,
) -> None:
    headers = admin.headers if path == ADMIN_URL else customer.headers
    await place_order(client, customer, make_product, lines=2)
    async with record_statements(app) as small:
        one = await client.get(path, headers=headers)
    for _ in range(24):
        await place_order(client, customer, make_product, lines=3)
    async with record_statements(app) as large:
        twenty = await client.get(path, params={"limit": 20}, headers=headers)

    assert len(one.json()["items"]) == 1
    assert len(twenty.json()["items"]) == 20
    assert all(len(o["items"]) == 3 and len(o["history"]) == 1 for o in twenty.json()["items"])
    # PostgreSQL: the user by primary key, then the page with its lines and history in one
    # statement. SQLite: the user, the page, the lines of the page, the history of the page.
    assert len(large) == len(small) == (2 if is_postgres else 4)


async def test_one_order_takes_a_constant_number_of_statements(
    app: FastAPI,
    client: AsyncClient,
    customer: TestUser,
    make_product: ProductFactory,
    is_postgres: bool,
) -> None:
    order = await place_order(client, customer, make_product, lines=10)

    async with record_statements(app) as statements:
        response = await client.get(f"{URL}/{order['id']}", headers=customer.headers)

    assert len(response.json()["items"]) == 10
    assert len(statements) == (2 if is_postgres else 4)
