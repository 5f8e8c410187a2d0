"""/users/me: read, update (name, e-mail with the current password), close the account."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.support.assertions import assert_error, assert_no_secrets, error_fields
from tests.support.clients import LOGIN, ME, VERIFY, VERIFY_REQUEST, login, refresh
from tests.support.environment import DEFAULT_PASSWORD
from tests.support.factories import TestUser, UserFactory
from tests.support.mail import link_token, mails_to
from tests.support.rows import user_row


async def test_me_is_the_callers_account(client: AsyncClient, customer: TestUser) -> None:
    response = await client.get(ME, headers=customer.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(customer.id)
    assert body["email"] == "customer@example.com"
    assert body["full_name"] == "Casey Customer"
    assert body["role"] == "customer"
    assert body["is_active"] is True
    assert response.headers["cache-control"] == "no-store"
    assert_no_secrets(response)


async def test_me_needs_a_bearer_token(client: AsyncClient) -> None:
    assert_error(await client.get(ME), 401, "UNAUTHORIZED")


async def test_the_name_can_change_without_a_password(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    response = await client.patch(ME, json={"full_name": "  Casey C. "}, headers=customer.headers)

    assert response.status_code == 200
    assert response.json()["full_name"] == "Casey C."
    assert response.json()["updated_at"] > response.json()["created_at"]
    assert (await user_row(app, customer.id)).full_name == "Casey C."


async def test_an_email_change_needs_the_password_and_resets_verification(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    response = await client.patch(
        ME,
        json={"email": "Casey@New.example.com", "current_password": DEFAULT_PASSWORD},
        headers=customer.headers,
    )

    assert response.status_code == 200
    assert response.json()["email"] == "casey@new.example.com"
    assert response.json()["is_verified"] is False
    assert_no_secrets(response, DEFAULT_PASSWORD)
    login_response = await client.post(
        LOGIN, json={"email": "casey@new.example.com", "password": DEFAULT_PASSWORD}
    )
    assert login_response.status_code == 200


async def test_a_link_sent_to_the_old_address_cannot_verify_the_new_one(
    app: FastAPI, client: AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user("old@example.com", is_verified=False)
    session = await login(client, user.email)
    await client.post(VERIFY_REQUEST, headers=session.headers)
    old_link = link_token(mails_to(app, "old@example.com", "Confirm")[0], "/verify-email")

    await client.patch(
        ME,
        json={"email": "new@example.com", "current_password": DEFAULT_PASSWORD},
        headers=session.headers,
    )

    assert_error(await client.post(VERIFY, json={"token": old_link}), 400, "INVALID_TOKEN")
    assert (await user_row(app, user.id)).is_verified is False


async def test_an_email_change_without_the_password_is_422(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    response = await client.patch(ME, json={"email": "x@example.com"}, headers=customer.headers)

    assert_error(response, 422, "VALIDATION_ERROR")
    assert error_fields(response) == ["body.current_password"]
    assert (await user_row(app, customer.id)).email == "customer@example.com"


async def test_an_email_change_with_a_wrong_password_is_403(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    response = await client.patch(
        ME,
        json={"email": "x@example.com", "current_password": "not my password"},
        headers=customer.headers,
    )

    assert_error(response, 403, "WRONG_PASSWORD")
    assert (await user_row(app, customer.id)).email == "customer@example.com"


async def test_an_email_in_use_is_409(
    app: FastAPI, client: AsyncClient, customer: TestUser, make_user: UserFactory
) -> None:
    await make_user("taken@example.com")

    response = await client.patch(
        ME,
        json={"email": "TAKEN@example.com", "current_password": DEFAULT_PASSWORD},
        headers=customer.headers,
    )

    assert_error(response, 409, "EMAIL_TAKEN")
    assert (await user_row(app, customer.id)).email == "customer@example.com"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "admin"}, "body.role"),
        ({"is_active": False}, "body.is_active"),
        ({"is_verified": True}, "body.is_verified"),
        ({"password": "a new password"}, "body.password"),
        ({"full_name": None}, "body.full_name"),
        ({"full_name": ""}, "body.full_name"),
        ({"email": "nope", "current_password": DEFAULT_PASSWORD}, "body.email"),
    ],
)
async def test_bad_or_forbidden_fields_are_422_and_change_nothing(
    app: FastAPI, client: AsyncClient, customer: TestUser, body: dict[str, Any], field: str
) -> None:
    response = await client.patch(ME, json=body, headers=customer.headers)

    assert_error(response, 422, "VALIDATION_ERROR")
    assert field in error_fields(response)
    stored = await user_row(app, customer.id)
    assert (stored.role, stored.is_active, stored.full_name) == ("customer", True, "Casey Customer")


async def test_closing_the_account_deactivates_it_and_ends_every_session(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    session = await login(client, customer.email)

    response = await client.request(
        "DELETE", ME, json={"current_password": DEFAULT_PASSWORD}, headers=session.headers
    )

    assert response.status_code == 204
    assert (await user_row(app, customer.id)).is_active is False
    assert_error(await client.get(ME, headers=session.headers), 401, "UNAUTHORIZED")
    # Its login ended: the refresh token is refused (the users domain writes the one signal,
    # `tokens_valid_after`, that every refresh reads).
    assert_error(await refresh(client, session.refresh_token), 401, "UNAUTHORIZED")
    relogin = await client.post(LOGIN, json={"email": customer.email, "password": DEFAULT_PASSWORD})
    assert_error(relogin, 403, "FORBIDDEN")


async def test_closing_the_account_needs_the_right_password(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    wrong = await client.request(
        "DELETE", ME, json={"current_password": "not my password"}, headers=customer.headers
    )
    missing = await client.request("DELETE", ME, json={}, headers=customer.headers)

    assert_error(wrong, 403, "WRONG_PASSWORD")
    assert_error(missing, 422, "VALIDATION_ERROR")
    assert (await user_row(app, customer.id)).is_active is True
