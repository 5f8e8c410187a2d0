"""POST /auth/register: accounts, normalised e-mails, password rules, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from storefront.users.models import User
from tests.support.assertions import assert_error, assert_no_secrets, error_fields
from tests.support.clients import REGISTER, register
from tests.support.environment import DEFAULT_PASSWORD
from tests.support.mail import link_token, mails_to
from tests.support.rows import count_rows, user_row


async def test_register_creates_an_unverified_customer(app: FastAPI, client: AsyncClient) -> None:
    response = await register(client, email="  Ada@Example.COM ", full_name="  Ada Lovelace ")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id", "email", "full_name", "role", "is_active", "is_verified", "created_at", "updated_at"
    }  # fmt: skip
    assert body["email"] == "ada@example.com"
    assert body["full_name"] == "Ada Lovelace"
    assert body["role"] == "customer"
    assert body["is_active"] is True
    assert body["is_verified"] is False
    assert body["created_at"].endswith(("Z", "+00:00"))
    assert response.headers["cache-control"] == "no-store"
    assert_no_secrets(response, DEFAULT_PASSWORD)
    stored = await user_row(app, body["id"])
    assert stored.password_hash.startswith("$2b$04$")
    assert DEFAULT_PASSWORD not in stored.password_hash


async def test_register_mails_a_verification_link(app: FastAPI, client: AsyncClient) -> None:
    await register(client, email="ada@example.com")

    [mail] = mails_to(app, "ada@example.com", "Confirm")
    assert link_token(mail, "/verify-email")


@pytest.mark.parametrize("other", ["ada@example.com", "ADA@EXAMPLE.COM", " Ada@example.com"])
async def test_an_email_in_use_is_409_in_any_case(
    app: FastAPI, client: AsyncClient, other: str
) -> None:
    assert (await register(client, email="ada@example.com")).status_code == 201

    response = await register(client, email=other)

    assert_error(response, 409, "EMAIL_TAKEN")
    assert await count_rows(app, User) == 1


@pytest.mark.parametrize(
    "password",
    [
        "12345678",  # 8: the shortest allowed
        "x" * 128,  # the longest allowed
        "€" * 30,  # 90 bytes in UTF-8: past bcrypt's 72
        "пароль-😀-密码-كلمة",  # any Unicode
    ],
)
async def test_passwords_of_8_to_128_characters_of_any_kind_work(
    client: AsyncClient, password: str
) -> None:
    assert (await register(client, password=password)).status_code == 201

    response = await client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": password}
    )

    assert response.status_code == 200


# 254 characters, RFC 5321's limit: a 64-character local part and a 189-character domain.
LONGEST_EMAIL = "a" * 64 + "@" + ".".join(["x" * 61, "y" * 61, "z" * 61, "com"])


def body_with(**changes: Any) -> dict[str, Any]:
    """A valid registration with some fields changed (`None` drops the field)."""
    body = {"email": "a@example.com", "password": DEFAULT_PASSWORD, "full_name": "A"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    (body_with(email="not-an-email"), "body.email"),
    (body_with(email="a@b"), "body.email"),
    (body_with(email="a" + LONGEST_EMAIL), "body.email"),  # 255 characters
    (body_with(email=None), "body.email"),
    (body_with(password="1234567"), "body.password"),
    (body_with(password="x" * 129), "body.password"),
    (body_with(password="€" * 129), "body.password"),
    (body_with(password=12345678), "body.password"),
    (body_with(password=None), "body.password"),
    (body_with(full_name="  "), "body.full_name"),
    (body_with(full_name="x" * 201), "body.full_name"),
    (body_with(full_name="Ada\u202eecalevol"), "body.full_name"),  # a bidi override
    (body_with(full_name="Ada\u2066x"), "body.full_name"),  # a bidi isolate
    (body_with(full_name="Ada\x1b[31m"), "body.full_name"),  # a terminal escape
    (body_with(full_name="Ada\nLovelace"), "body.full_name"),
    (body_with(full_name=None), "body.full_name"),
    (body_with(role="admin"), "body.role"),
    (body_with(is_verified=True), "body.is_verified"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
async def test_bad_input_is_422_and_creates_nothing(
    app: FastAPI, client: AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post(REGISTER, json=body)

    assert_error(response, 422, "VALIDATION_ERROR")
    assert field in error_fields(response)
    assert await count_rows(app, User) == 0


async def test_an_address_of_254_characters_is_the_longest_accepted(client: AsyncClient) -> None:
    assert len(LONGEST_EMAIL) == 254

    response = await client.post(REGISTER, json=body_with(email=LONGEST_EMAIL))

    assert response.status_code == 201, response.text
    assert response.json()["email"] == LONGEST_EMAIL


async def test_a_rejected_password_is_never_echoed(client: AsyncClient) -> None:
    secret = "short-€"  # 7 characters

    response = await client.post(
        REGISTER, json={"email": "a@example.com", "password": secret, "full_name": "A"}
    )

    assert response.status_code == 422
    assert secret not in response.text


async def test_a_body_that_is_not_json_is_415(app: FastAPI, client: AsyncClient) -> None:
    response = await client.post(
        REGISTER, data={"email": "a@example.com", "password": DEFAULT_PASSWORD, "full_name": "A"}
    )

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert await count_rows(app, User) == 0


async def test_malformed_json_is_422(client: AsyncClient) -> None:
    response = await client.post(
        REGISTER, content=b'{"email": ', headers={"content-type": "application/json"}
    )

    assert_error(response, 422, "VALIDATION_ERROR")
