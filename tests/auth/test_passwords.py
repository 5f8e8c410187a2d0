"""Password change, forgot and reset; the notification mails."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import update

from storefront.auth.models import OneTimeToken
from storefront.core.database import utcnow
from storefront.core.security import hash_opaque_token
from tests.support.assertions import assert_error, error_fields
from tests.support.clients import (
    LOGIN,
    ME,
    PASSWORD_CHANGE,
    PASSWORD_FORGOT,
    PASSWORD_RESET,
    login,
    refresh,
)
from tests.support.environment import DEFAULT_PASSWORD
from tests.support.factories import TestUser, UserFactory
from tests.support.mail import link_token, mails_to, outbox
from tests.support.rows import one_time_rows, refresh_rows, user_row

NEW_PASSWORD = "a brand new passphrase"


async def can_log_in(client: AsyncClient, email: str, password: str) -> bool:
    response = await client.post(LOGIN, json={"email": email, "password": password})
    return response.status_code == 200


# --------------------------------------------------------------------------- change


async def test_change_keeps_the_callers_session_and_ends_the_others(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    mine = await login(client, customer.email)
    other = await login(client, customer.email)

    response = await client.post(
        PASSWORD_CHANGE,
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=mine.headers,
    )

    assert response.status_code == 204
    assert (await client.get(ME, headers=mine.headers)).status_code == 200
    assert (await refresh(client, mine.refresh_token)).status_code == 200
    assert_error(await client.get(ME, headers=other.headers), 401, "UNAUTHORIZED")
    assert_error(await refresh(client, other.refresh_token), 401, "UNAUTHORIZED")
    assert await can_log_in(client, customer.email, NEW_PASSWORD)
    assert not await can_log_in(client, customer.email, DEFAULT_PASSWORD)
    [mail] = mails_to(app, customer.email, "password was changed")
    assert NEW_PASSWORD not in mail.text


async def test_change_with_a_wrong_current_password_is_403_and_changes_nothing(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    mine = await login(client, customer.email)
    before = (await user_row(app, customer.id)).password_hash

    response = await client.post(
        PASSWORD_CHANGE,
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
        headers=mine.headers,
    )

    assert_error(response, 403, "WRONG_PASSWORD")
    assert (await user_row(app, customer.id)).password_hash == before
    assert outbox(app) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"current_password": DEFAULT_PASSWORD, "new_password": "1234567"}, "body.new_password"),
        ({"current_password": DEFAULT_PASSWORD, "new_password": "x" * 129}, "body.new_password"),
        ({"new_password": NEW_PASSWORD}, "body.current_password"),
        ({"current_password": DEFAULT_PASSWORD}, "body.new_password"),
    ],
)
async def test_bad_change_input_is_422(
    client: AsyncClient, customer: TestUser, body: dict[str, str], field: str
) -> None:
    response = await client.post(PASSWORD_CHANGE, json=body, headers=customer.headers)

    assert_error(response, 422, "VALIDATION_ERROR")
    assert field in error_fields(response)
    assert DEFAULT_PASSWORD not in response.text


async def test_change_needs_a_bearer_token(client: AsyncClient) -> None:
    response = await client.post(
        PASSWORD_CHANGE, json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert_error(response, 401, "UNAUTHORIZED")


# --------------------------------------------------------------------------- forgot / reset


async def test_forgot_then_reset_ends_every_session(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    session = await login(client, customer.email)

    forgot = await client.post(PASSWORD_FORGOT, json={"email": " CUSTOMER@example.com"})

    assert forgot.status_code == 202
    [mail] = mails_to(app, customer.email, "Reset")
    token = link_token(mail, "/reset-password")
    [row] = await one_time_rows(app)
    assert row.token_hash == hash_opaque_token(token)
    assert row.purpose == "password_reset"
    assert timedelta(minutes=29) < row.expires_at - row.created_at <= timedelta(minutes=30)

    reset = await client.post(PASSWORD_RESET, json={"token": token, "new_password": NEW_PASSWORD})

    assert reset.status_code == 204
    assert await can_log_in(client, customer.email, NEW_PASSWORD)
    assert not await can_log_in(client, customer.email, DEFAULT_PASSWORD)
    assert_error(await client.get(ME, headers=session.headers), 401, "UNAUTHORIZED")
    assert_error(await refresh(client, session.refresh_token), 401, "UNAUTHORIZED")
    assert mails_to(app, customer.email, "password was changed")
    rows = await refresh_rows(app, customer.id)
    assert rows[0].revoked_at is not None


async def test_a_reset_token_works_once(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    await client.post(PASSWORD_FORGOT, json={"email": customer.email})
    token = link_token(mails_to(app, customer.email, "Reset")[0], "/reset-password")
    first = await client.post(PASSWORD_RESET, json={"token": token, "new_password": NEW_PASSWORD})

    second = await client.post(
        PASSWORD_RESET, json={"token": token, "new_password": "yet another passphrase"}
    )

    assert first.status_code == 204
    assert_error(second, 400, "INVALID_TOKEN")
    assert await can_log_in(client, customer.email, NEW_PASSWORD)


async def test_an_expired_reset_token_is_400(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    await client.post(PASSWORD_FORGOT, json={"email": customer.email})
    token = link_token(mails_to(app, customer.email, "Reset")[0], "/reset-password")
    async with app.state.database.sessionmaker() as db:
        await db.execute(update(OneTimeToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        await db.commit()

    response = await client.post(
        PASSWORD_RESET, json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert_error(response, 400, "INVALID_TOKEN")
    assert await can_log_in(client, customer.email, DEFAULT_PASSWORD)


async def test_a_verification_token_cannot_reset_a_password(
    app: FastAPI, client: AsyncClient
) -> None:
    await client.post(
        "/api/v1/auth/register",
        json={"email": "ada@example.com", "password": DEFAULT_PASSWORD, "full_name": "Ada"},
    )
    token = link_token(mails_to(app, "ada@example.com", "Confirm")[0], "/verify-email")

    response = await client.post(
        PASSWORD_RESET, json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert_error(response, 400, "INVALID_TOKEN")


async def test_forgot_is_202_for_an_unknown_email_and_mails_nothing(
    app: FastAPI, client: AsyncClient
) -> None:
    response = await client.post(PASSWORD_FORGOT, json={"email": "nobody@example.com"})

    assert response.status_code == 202
    assert outbox(app) == []
    assert await one_time_rows(app) == []


async def test_forgot_mails_nothing_to_a_disabled_account(
    app: FastAPI, client: AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user("gone@example.com", is_active=False)

    assert (await client.post(PASSWORD_FORGOT, json={"email": user.email})).status_code == 202
    assert outbox(app) == []


async def test_forgot_is_limited_per_ip(client: AsyncClient) -> None:
    # Another address each time: the per-IP budget (5/min) runs out, not an account's.
    for n in range(5):
        response = await client.post(PASSWORD_FORGOT, json={"email": f"nobody{n}@example.com"})
        assert response.status_code == 202

    limited = await client.post(PASSWORD_FORGOT, json={"email": "somebody@example.com"})

    assert_error(limited, 429, "RATE_LIMITED")
    assert int(limited.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"token": "", "new_password": NEW_PASSWORD}, "body.token"),
        ({"token": "abc", "new_password": "short"}, "body.new_password"),
        ({"new_password": NEW_PASSWORD}, "body.token"),
        ({"token": "abc", "new_password": NEW_PASSWORD, "email": "a@b.c"}, "body.email"),
    ],
)
async def test_bad_reset_input_is_422(
    client: AsyncClient, body: dict[str, str], field: str
) -> None:
    response = await client.post(PASSWORD_RESET, json=body)

    assert_error(response, 422, "VALIDATION_ERROR")
    assert field in error_fields(response)


async def test_an_unknown_reset_token_is_400(client: AsyncClient) -> None:
    response = await client.post(
        PASSWORD_RESET, json={"token": "made-up-token", "new_password": NEW_PASSWORD}
    )

    assert_error(response, 400, "INVALID_TOKEN")
