"""Refresh rotation, reuse detection, logout and logout-all."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import update

from storefront.auth.models import RefreshToken
from storefront.core.database import utcnow
from storefront.core.security import hash_opaque_token
from storefront.users.models import User
from tests.support.assertions import assert_error, assert_no_secrets, error_fields
from tests.support.clients import (
    LOGOUT,
    LOGOUT_ALL,
    ME,
    REFRESH,
    bearer,
    login,
    make_client,
    refresh,
)
from tests.support.concurrency import ServerTimeline
from tests.support.factories import AppFactory, TestUser, UserFactory
from tests.support.rows import refresh_rows


async def test_refresh_rotates_the_token(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    first = await login(client, customer.email)

    response = await refresh(client, first.refresh_token)

    assert response.status_code == 200
    body = response.json()
    assert body["refresh_token"] != first.refresh_token
    assert response.headers["cache-control"] == "no-store"
    assert (await client.get(ME, headers=bearer(body["access_token"]))).status_code == 200
    old, new = await refresh_rows(app, customer.id)
    assert old.family_id == new.family_id
    assert old.used_at is not None
    assert old.replaced_by_id == new.id
    assert new.used_at is None
    assert new.revoked_at is None
    assert_no_secrets(response, old.token_hash)


async def test_the_old_refresh_token_is_dead_and_reusing_it_ends_the_family(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    first = await login(client, customer.email)
    second = (await refresh(client, first.refresh_token)).json()
    third = (await refresh(client, second["refresh_token"])).json()

    reuse = await refresh(client, first.refresh_token)

    assert_error(reuse, 401, "UNAUTHORIZED")
    # The newest token of the family stops working too...
    assert_error(await refresh(client, third["refresh_token"]), 401, "UNAUTHORIZED")
    rows = await refresh_rows(app, customer.id)
    assert len(rows) == 3
    assert all(row.revoked_at is not None for row in rows)


async def test_reuse_revokes_only_that_login(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    phone = await login(client, customer.email)
    laptop = await login(client, customer.email)
    await refresh(client, phone.refresh_token)

    await refresh(client, phone.refresh_token)  # theft detected on the phone's login

    assert (await refresh(client, laptop.refresh_token)).status_code == 200


async def test_an_expired_refresh_token_is_401(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    session = await login(client, customer.email)
    async with app.state.database.sessionmaker() as db:
        await db.execute(update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        await db.commit()

    assert_error(await refresh(client, session.refresh_token), 401, "UNAUTHORIZED")
    [row] = await refresh_rows(app, customer.id)
    assert row.used_at is None  # not claimed


async def test_an_unknown_refresh_token_is_401(client: AsyncClient) -> None:
    assert_error(await refresh(client, "x" * 43), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("token", ["", "x" * 513])
async def test_a_malformed_refresh_token_is_422(client: AsyncClient, token: str) -> None:
    response = await refresh(client, token)

    assert_error(response, 422, "VALIDATION_ERROR")
    assert error_fields(response) == ["body.refresh_token"]


async def test_refresh_of_a_disabled_user_is_401(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    session = await login(client, customer.email)
    async with app.state.database.sessionmaker() as db:
        await db.execute(update(User).values(is_active=False))
        await db.commit()

    assert_error(await refresh(client, session.refresh_token), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("racers", [2, 8])
async def test_parallel_refreshes_with_one_token_give_one_success(
    app: FastAPI, customer: TestUser, racers: int
) -> None:
    async with make_client(app) as client:
        session = await login(client, customer.email)
    timeline = ServerTimeline(app)
    clients = [make_client(timeline) for _ in range(racers)]  # one connection each

    responses = await asyncio.gather(
        *(
            client.post(
                REFRESH,
                json={"refresh_token": session.refresh_token},
                headers=timeline.label(f"refresh{n}"),
            )
            for n, client in enumerate(clients)
        )
    )
    for client in clients:
        await client.aclose()

    assert timeline.overlapped()
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [401] * (racers - 1)
    # The losers presented a token that had just been used: that is reuse, so the login ends.
    rows = await refresh_rows(app, customer.id)
    assert len(rows) == 2
    assert all(row.revoked_at is not None for row in rows)


async def test_logout_ends_that_session_only(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    phone = await login(client, customer.email)
    laptop = await login(client, customer.email)

    response = await client.post(LOGOUT, json={"refresh_token": phone.refresh_token})

    assert response.status_code == 204
    assert response.content == b""
    assert_error(await refresh(client, phone.refresh_token), 401, "UNAUTHORIZED")
    assert (await refresh(client, laptop.refresh_token)).status_code == 200
    rows = {row.token_hash: row for row in await refresh_rows(app, customer.id)}
    assert rows[hash_opaque_token(phone.refresh_token)].revoked_at is not None


async def test_logout_with_an_unknown_token_is_a_harmless_204(client: AsyncClient) -> None:
    response = await client.post(LOGOUT, json={"refresh_token": "nothing-we-issued"})

    assert response.status_code == 204


async def test_logout_all_ends_every_session_and_access_token(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    phone = await login(client, customer.email)
    laptop = await login(client, customer.email)

    response = await client.post(LOGOUT_ALL, headers=laptop.headers)

    assert response.status_code == 204
    for session in (phone, laptop):
        assert_error(await client.get(ME, headers=session.headers), 401, "UNAUTHORIZED")
        assert_error(await refresh(client, session.refresh_token), 401, "UNAUTHORIZED")
    assert all(row.revoked_at is not None for row in await refresh_rows(app, customer.id))

    # A login right after works.
    fresh = await login(client, customer.email)
    assert (await client.get(ME, headers=fresh.headers)).status_code == 200


async def test_logout_all_needs_a_bearer_token(client: AsyncClient) -> None:
    assert_error(await client.post(LOGOUT_ALL), 401, "UNAUTHORIZED")


async def test_refresh_wants_exactly_its_field(client: AsyncClient) -> None:
    response = await client.post(REFRESH, json={"refresh_token": "abc", "user_id": "x"})

    assert_error(response, 422, "VALIDATION_ERROR")
    assert error_fields(response) == ["body.user_id"]


async def _age_the_login(app: FastAPI, user_id: object, seconds: float) -> None:
    """Pretend the password of every login of this user was typed `seconds` ago."""
    async with app.state.database.sessionmaker() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id)
            .values(login_at=utcnow() - timedelta(seconds=seconds))
        )
        await session.commit()


async def test_a_login_ends_at_its_absolute_lifetime_however_often_refreshed(
    make_app_with: AppFactory, make_user: UserFactory
) -> None:
    app = await make_app_with(login_max_age_seconds=3600)
    user = await make_user()
    async with make_client(app) as client:
        session = await login(client, user.email)
        await _age_the_login(app, user.id, 3600 - 120)  # two minutes left
        refreshed = await refresh(client, session.refresh_token)

        assert refreshed.status_code == 200
        rows = await refresh_rows(app, user.id)
        # The new token dies with the login, not 30 days from now.
        assert rows[-1].expires_at <= rows[-1].login_at + timedelta(seconds=3600)
        assert rows[-1].login_at == rows[0].login_at

        await _age_the_login(app, user.id, 3600 + 1)
        expired = await refresh(client, refreshed.json()["refresh_token"])
    assert_error(expired, 401, "UNAUTHORIZED")
