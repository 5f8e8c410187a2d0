"""Bearer tokens: only a current access token of ours, of an active user, is accepted."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import delete, update

from storefront.users.models import User
from tests.support.assertions import assert_error
from tests.support.clients import ME, bearer, login
from tests.support.environment import TEST_SECRET_KEY
from tests.support.factories import TestUser


def claims_for(user: TestUser, **overrides: Any) -> dict[str, Any]:
    now = time.time()
    claims: dict[str, Any] = {
        "sub": str(user.id),
        "iat": now,
        "exp": int(now) + 600,
        "jti": uuid.uuid4().hex,
        "iss": "storefront",
        "aud": "storefront-api",
        "type": "access",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: dict[str, Any], key: str = TEST_SECRET_KEY, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_a_well_formed_token_of_ours_is_accepted(
    client: AsyncClient, customer: TestUser
) -> None:
    response = await client.get(ME, headers=bearer(sign(claims_for(customer))))

    assert response.status_code == 200


FORGERIES = {
    "alg none": lambda u: unsigned(claims_for(u)),
    "another algorithm": lambda u: sign(claims_for(u), algorithm="HS512"),
    "another key": lambda u: sign(claims_for(u), key="another-secret-key-0123456789-abcdefgh"),
    "wrong audience": lambda u: sign(claims_for(u, aud="another-api")),
    "wrong issuer": lambda u: sign(claims_for(u, iss="someone-else")),
    "expired": lambda u: sign(claims_for(u, iat=time.time() - 1000, exp=int(time.time()) - 10)),
    "a refresh token": lambda u: sign(claims_for(u, type="refresh")),
    "no type": lambda u: sign(claims_for(u, type=None)),
    "no exp": lambda u: sign(claims_for(u, exp=None)),
    "no iat": lambda u: sign(claims_for(u, iat=None)),
    "no jti": lambda u: sign(claims_for(u, jti=None)),
    "no aud": lambda u: sign(claims_for(u, aud=None)),
    "sub not a uuid": lambda u: sign(claims_for(u, sub="admin")),
    "unknown user": lambda u: sign(claims_for(u, sub=str(uuid.uuid4()))),
    "tampered payload": lambda u: tamper(sign(claims_for(u))),
    "garbage": lambda u: "not-a-jwt",
    "empty": lambda u: "",
}


def tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(uuid.uuid4())
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512, our key
@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_forged_and_foreign_tokens_are_401(
    client: AsyncClient, customer: TestUser, forgery: str
) -> None:
    token = FORGERIES[forgery](customer)

    response = await client.get(ME, headers=bearer(token))

    assert_error(response, 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}],
    ids=["none", "basic", "bearer without token"],
)
async def test_missing_credentials_are_401(client: AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get(ME, headers=headers)

    assert_error(response, 401, "UNAUTHORIZED")


async def test_tokens_of_a_disabled_user_stop_working_at_once(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    async with app.state.database.sessionmaker() as session:
        await session.execute(update(User).where(User.id == customer.id).values(is_active=False))
        await session.commit()

    assert_error(await client.get(ME, headers=customer.headers), 401, "UNAUTHORIZED")


async def test_tokens_of_a_deleted_user_stop_working(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    session_tokens = await login(client, customer.email)
    async with app.state.database.sessionmaker() as session:
        await session.execute(delete(User).where(User.id == customer.id))
        await session.commit()

    assert_error(await client.get(ME, headers=session_tokens.headers), 401, "UNAUTHORIZED")


async def test_a_token_issued_before_tokens_valid_after_is_refused(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    old = sign(claims_for(customer, iat=time.time() - 60))
    async with app.state.database.sessionmaker() as session:
        await session.execute(
            update(User).where(User.id == customer.id).values(tokens_valid_after=datetime.now(UTC))
        )
        await session.commit()

    assert_error(await client.get(ME, headers=bearer(old)), 401, "UNAUTHORIZED")
    assert (await client.get(ME, headers=bearer(sign(claims_for(customer))))).status_code == 200


async def test_a_token_that_worked_is_refused_once_it_expires(
    client: AsyncClient, customer: TestUser
) -> None:
    """Verified tokens are kept between requests; their expiry is checked on every use."""
    expires = int(time.time()) + 2
    token = sign(claims_for(customer, exp=expires))
    first = await client.get(ME, headers=bearer(token))
    await asyncio.sleep(expires - time.time() + 0.05)  # past `exp`, as PyJWT compares
    after = await client.get(ME, headers=bearer(token))

    assert first.status_code == 200
    assert_error(after, 401, "UNAUTHORIZED")


async def test_a_token_that_worked_fails_at_once_when_its_user_is_disabled(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    first = await client.get(ME, headers=customer.headers)
    async with app.state.database.sessionmaker() as session:
        await session.execute(update(User).where(User.id == customer.id).values(is_active=False))
        await session.commit()
    after = await client.get(ME, headers=customer.headers)

    assert first.status_code == 200
    assert_error(after, 401, "UNAUTHORIZED")
