"""/admin/users: list with filters and pages, create, read, update; admins only."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.support.assertions import assert_error, assert_no_secrets, error_fields
from tests.support.clients import LOGIN, ME, login, refresh
from tests.support.environment import DEFAULT_PASSWORD
from tests.support.factories import TestUser, UserFactory
from tests.support.rows import user_row

USERS = "/api/v1/admin/users"


async def test_customers_are_403_and_anonymous_401(client: AsyncClient, customer: TestUser) -> None:
    assert_error(await client.get(USERS, headers=customer.headers), 403, "FORBIDDEN")
    assert_error(await client.get(USERS), 401, "UNAUTHORIZED")
    assert_error(
        await client.get(f"{USERS}/{customer.id}", headers=customer.headers), 403, "FORBIDDEN"
    )


async def test_list_pages_newest_first_without_gaps_or_repeats(
    client: AsyncClient, admin: TestUser, make_user: UserFactory
) -> None:
    for number in range(5):
        await make_user(f"user{number}@example.com")
    seen: list[str] = []
    cursor: str | None = None

    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await client.get(USERS, params=params, headers=admin.headers)
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [item["email"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == [f"user{n}@example.com" for n in reversed(range(5))] + ["admin@example.com"]
    assert_no_secrets(response)


async def test_list_filters(client: AsyncClient, admin: TestUser, make_user: UserFactory) -> None:
    await make_user("grace@example.com", full_name="Grace Hopper")
    await make_user("linus@example.com", full_name="Linus", is_active=False)
    await make_user("boss@example.com", full_name="Another Admin", role="admin")

    async def emails(**params: Any) -> list[str]:
        response = await client.get(USERS, params=params, headers=admin.headers)
        assert response.status_code == 200
        return sorted(item["email"] for item in response.json()["items"])

    assert await emails(q="HOPPER") == ["grace@example.com"]
    assert await emails(q="linus@") == ["linus@example.com"]
    assert await emails(role="admin") == ["admin@example.com", "boss@example.com"]
    assert await emails(is_active="false") == ["linus@example.com"]
    assert await emails(q="%") == []  # a wildcard is a literal


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"cursor": "not-a-cursor"}, {"role": "root"}, {"q": ""}],
)
async def test_bad_list_parameters_are_422(
    client: AsyncClient, admin: TestUser, params: dict[str, Any]
) -> None:
    response = await client.get(USERS, params=params, headers=admin.headers)

    assert_error(response, 422, "VALIDATION_ERROR")


async def test_create_a_user_with_a_role(
    app: FastAPI, client: AsyncClient, admin: TestUser
) -> None:
    response = await client.post(
        USERS,
        json={
            "email": "Staff@Example.com",
            "password": DEFAULT_PASSWORD,
            "full_name": "New Staff",
            "role": "admin",
        },
        headers=admin.headers,
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["email"], body["role"], body["is_active"]) == ("staff@example.com", "admin", True)
    assert_no_secrets(response, DEFAULT_PASSWORD)
    staff_login = {"email": "staff@example.com", "password": DEFAULT_PASSWORD}
    assert (await client.post(LOGIN, json=staff_login)).status_code == 200


async def test_create_with_an_email_in_use_is_409(
    client: AsyncClient, admin: TestUser, customer: TestUser
) -> None:
    response = await client.post(
        USERS,
        json={"email": customer.email, "password": DEFAULT_PASSWORD, "full_name": "Twin"},
        headers=admin.headers,
    )

    assert_error(response, 409, "EMAIL_TAKEN")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"role": "superuser"}, "body.role"),
        ({"password": "1234567"}, "body.password"),
        ({"is_active": "yes"}, "body.is_active"),
        ({"id": str(uuid.uuid4())}, "body.id"),
    ],
)
async def test_bad_create_input_is_422(
    client: AsyncClient, admin: TestUser, changes: dict[str, Any], field: str
) -> None:
    body = {"email": "x@example.com", "password": DEFAULT_PASSWORD, "full_name": "X"} | changes

    response = await client.post(USERS, json=body, headers=admin.headers)

    assert_error(response, 422, "VALIDATION_ERROR")
    assert field in error_fields(response)


async def test_read_one_user(client: AsyncClient, admin: TestUser, customer: TestUser) -> None:
    response = await client.get(f"{USERS}/{customer.id}", headers=admin.headers)

    assert response.status_code == 200
    assert response.json()["email"] == customer.email


async def test_unknown_is_404_and_malformed_is_422(client: AsyncClient, admin: TestUser) -> None:
    assert_error(
        await client.get(f"{USERS}/{uuid.uuid4()}", headers=admin.headers), 404, "NOT_FOUND"
    )
    assert_error(await client.get(f"{USERS}/42", headers=admin.headers), 422, "VALIDATION_ERROR")
    assert_error(
        await client.patch(
            f"{USERS}/{uuid.uuid4()}", json={"full_name": "X"}, headers=admin.headers
        ),
        404,
        "NOT_FOUND",
    )


async def test_update_name_role_and_verification(
    app: FastAPI, client: AsyncClient, admin: TestUser, customer: TestUser
) -> None:
    response = await client.patch(
        f"{USERS}/{customer.id}",
        json={"full_name": "Promoted", "role": "admin", "is_verified": False},
        headers=admin.headers,
    )

    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert response.json()["full_name"] == "Promoted"
    assert response.json()["is_verified"] is False
    # The new role applies to the tokens the user already holds.
    assert (await client.get(USERS, headers=customer.headers)).status_code == 200


async def test_disabling_a_user_ends_their_sessions(
    app: FastAPI, client: AsyncClient, admin: TestUser, customer: TestUser
) -> None:
    session = await login(client, customer.email)

    response = await client.patch(
        f"{USERS}/{customer.id}", json={"is_active": False}, headers=admin.headers
    )

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert_error(await client.get(ME, headers=session.headers), 401, "UNAUTHORIZED")
    assert_error(await refresh(client, session.refresh_token), 401, "UNAUTHORIZED")

    enabled = await client.patch(
        f"{USERS}/{customer.id}", json={"is_active": True}, headers=admin.headers
    )
    assert enabled.status_code == 200
    # Re-enabling does not bring the old tokens back.
    assert_error(await client.get(ME, headers=session.headers), 401, "UNAUTHORIZED")
    assert (await login(client, customer.email)).access_token


@pytest.mark.parametrize("changes", [{"role": "customer"}, {"is_active": False}])
async def test_an_admin_cannot_demote_or_disable_themself(
    app: FastAPI, client: AsyncClient, admin: TestUser, changes: dict[str, Any]
) -> None:
    response = await client.patch(f"{USERS}/{admin.id}", json=changes, headers=admin.headers)

    assert_error(response, 409, "CONFLICT")
    stored = await user_row(app, admin.id)
    assert (stored.role, stored.is_active) == ("admin", True)


async def test_an_admin_can_rename_themself(client: AsyncClient, admin: TestUser) -> None:
    response = await client.patch(
        f"{USERS}/{admin.id}", json={"full_name": "Ada A.", "role": "admin"}, headers=admin.headers
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "x@example.com"}, "body.email"),
        ({"password": "whatever-it-is"}, "body.password"),
        ({"role": None}, "body.role"),
        ({"is_active": None}, "body.is_active"),
    ],
)
async def test_bad_update_input_is_422(
    app: FastAPI,
    client: AsyncClient,
    admin: TestUser,
    customer: TestUser,
    changes: dict[str, Any],
    field: str,
) -> None:
    response = await client.patch(f"{USERS}/{customer.id}", json=changes, headers=admin.headers)

    assert_error(response, 422, "VALIDATION_ERROR")
    assert field in error_fields(response)
    assert (await user_row(app, customer.id)).is_active is True
