"""POST /auth/login and /auth/token: tokens, one answer for bad credentials, disabled accounts,
re-hashing, and the login rate limits."""

from __future__ import annotations

import uuid

import bcrypt
import jwt
import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from storefront.auth.models import RefreshToken
from storefront.core.security import hash_opaque_token
from tests.support.assertions import assert_error, assert_no_secrets, error_fields
from tests.support.clients import LOGIN, ME, TOKEN, bearer, make_client
from tests.support.environment import DEFAULT_PASSWORD, TEST_SECRET_KEY
from tests.support.factories import TestUser, UserFactory
from tests.support.rows import count_rows, refresh_rows, user_row


async def test_login_returns_tokens_that_work(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    response = await client.post(
        LOGIN,
        json={"email": " Customer@Example.com ", "password": DEFAULT_PASSWORD},
        headers={"User-Agent": "storefront-ios/2.1"},
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert response.headers["cache-control"] == "no-store"
    assert_no_secrets(response, DEFAULT_PASSWORD)

    claims = jwt.decode(
        body["access_token"], TEST_SECRET_KEY, algorithms=["HS256"], audience="storefront-api"
    )
    assert claims["sub"] == str(customer.id)
    assert claims["type"] == "access"
    assert claims["iss"] == "storefront"
    assert claims["exp"] - int(claims["iat"]) == 900
    assert {"jti", "iat", "exp"} <= set(claims)

    me = await client.get(ME, headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == "customer@example.com"

    [row] = await refresh_rows(app, customer.id)
    assert row.token_hash == hash_opaque_token(body["refresh_token"])
    assert body["refresh_token"] not in row.token_hash
    assert row.user_agent == "storefront-ios/2.1"
    assert row.client_ip == "203.0.113.7"


async def test_the_oauth2_form_logs_in_like_the_docs_authorize_button(
    client: AsyncClient, customer: TestUser
) -> None:
    response = await client.post(
        TOKEN,
        data={"grant_type": "password", "username": customer.email, "password": DEFAULT_PASSWORD},
    )

    assert response.status_code == 200
    me = await client.get(ME, headers=bearer(response.json()["access_token"]))
    assert me.json()["id"] == str(customer.id)


async def test_the_form_route_wants_a_form(client: AsyncClient, customer: TestUser) -> None:
    response = await client.post(
        TOKEN, json={"username": customer.email, "password": DEFAULT_PASSWORD}
    )

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_the_form_route_refuses_another_grant_type(
    client: AsyncClient, customer: TestUser
) -> None:
    response = await client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "username": customer.email, "password": "x"},
    )

    assert_error(response, 422, "VALIDATION_ERROR")
    assert "body.grant_type" in error_fields(response)


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("customer@example.com", "wrong password"),
        ("nobody@example.com", DEFAULT_PASSWORD),
        ("not even an email", DEFAULT_PASSWORD),
    ],
)
async def test_bad_credentials_get_one_answer(
    app: FastAPI, client: AsyncClient, customer: TestUser, email: str, password: str
) -> None:
    response = await client.post(LOGIN, json={"email": email, "password": password})

    error = assert_error(response, 401, "UNAUTHORIZED")
    assert error["message"] == "Invalid email or password"
    assert await count_rows(app, RefreshToken) == 0


async def test_an_unknown_email_costs_a_bcrypt_check_too(
    app: FastAPI, client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[bytes] = []
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        checks.append(hashed)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting_checkpw)

    response = await client.post(LOGIN, json={"email": "ghost@example.com", "password": "x" * 9})

    assert response.status_code == 401
    assert len(checks) == 1
    assert checks[0].startswith(b"$2b$04$")  # at the configured cost, like a real hash


async def test_a_disabled_account_with_the_right_password_is_403(
    app: FastAPI, client: AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user("gone@example.com", is_active=False)

    right = await client.post(LOGIN, json={"email": user.email, "password": DEFAULT_PASSWORD})
    wrong = await client.post(LOGIN, json={"email": user.email, "password": "not it at all"})

    assert_error(right, 403, "FORBIDDEN")
    assert_error(wrong, 401, "UNAUTHORIZED")
    assert await count_rows(app, RefreshToken) == 0


async def test_a_password_long_past_72_bytes_must_match_in_full(
    client: AsyncClient, make_user: UserFactory
) -> None:
    password = "€" * 30  # 90 bytes
    user = await make_user("long@example.com", password=password)

    same_72_bytes = await client.post(
        LOGIN, json={"email": user.email, "password": "€" * 24 + "x" * 6}
    )
    exact = await client.post(LOGIN, json={"email": user.email, "password": password})

    assert same_72_bytes.status_code == 401
    assert exact.status_code == 200


async def test_an_older_cost_is_rehashed_at_the_next_login(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    app.state.password_hasher.rounds = 5  # the operators raised the cost

    response = await client.post(
        LOGIN, json={"email": customer.email, "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == 200
    stored = await user_row(app, customer.id)
    assert stored.password_hash.startswith("$2b$05$")
    again = await client.post(LOGIN, json={"email": customer.email, "password": DEFAULT_PASSWORD})
    assert again.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com"}, "body.password"),
        ({"password": "x" * 10}, "body.email"),
        ({"email": "a@example.com", "password": ""}, "body.password"),
        ({"email": "a@example.com", "password": "x" * 129}, "body.password"),
        ({"email": "a@example.com", "password": "x" * 10, "remember": True}, "body.remember"),
        ({"email": ["a@example.com"], "password": "x" * 10}, "body.email"),
        ({"email": "a" * 243 + "@example.com", "password": "x" * 10}, "body.email"),  # 255
    ],
)
async def test_bad_login_input_is_422(
    client: AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post(LOGIN, json=body)

    assert_error(response, 422, "VALIDATION_ERROR")
    assert field in error_fields(response)
    assert "x" * 10 not in response.text


async def test_logins_are_limited_per_client_ip(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    for _ in range(10):
        response = await client.post(
            LOGIN, json={"email": f"{uuid.uuid4().hex}@example.com", "password": "x" * 10}
        )
        assert response.status_code == 401

    limited = await client.post(LOGIN, json={"email": customer.email, "password": DEFAULT_PASSWORD})
    form = await client.post(TOKEN, data={"username": customer.email, "password": DEFAULT_PASSWORD})

    assert_error(limited, 429, "RATE_LIMITED")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert_error(form, 429, "RATE_LIMITED")
    async with make_client(app, client_ip="198.51.100.20") as elsewhere:
        other_ip = await elsewhere.post(
            LOGIN, json={"email": customer.email, "password": DEFAULT_PASSWORD}
        )
    assert other_ip.status_code == 200


async def test_logins_are_limited_per_email_across_ips(app: FastAPI, customer: TestUser) -> None:
    for number in range(10):
        async with make_client(app, client_ip=f"198.51.100.{number}") as attacker:
            response = await attacker.post(
                LOGIN, json={"email": customer.email, "password": "guess number " + str(number)}
            )
            assert response.status_code == 401

    async with make_client(app, client_ip="198.51.100.99") as anyone:
        limited = await anyone.post(
            LOGIN, json={"email": customer.email.upper(), "password": DEFAULT_PASSWORD}
        )
        other_email = await anyone.post(
            LOGIN, json={"email": "someone.else@example.com", "password": "x" * 10}
        )

    assert_error(limited, 429, "RATE_LIMITED")
    assert other_email.status_code == 401
