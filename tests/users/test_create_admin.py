"""`storefront create-admin`: the first administrator, created or promoted by ops."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from storefront.core.config import Settings
from storefront.users.commands import create_admin
from tests.support.clients import LOGIN
from tests.support.factories import TestUser
from tests.support.rows import user_row

PASSWORD = "ops chose this one"


async def test_creates_an_active_verified_admin(
    app: FastAPI, client: AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await create_admin(settings, " Root@Example.com ", PASSWORD, "Root")

    assert status == 0
    assert "root@example.com created" in capsys.readouterr().out
    response = await client.post(LOGIN, json={"email": "root@example.com", "password": PASSWORD})
    assert response.status_code == 200
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    assert (me.json()["role"], me.json()["is_verified"], me.json()["full_name"]) == (
        "admin",
        True,
        "Root",
    )


async def test_a_second_run_promotes_and_resets_the_password(
    app: FastAPI, client: AsyncClient, settings: Settings, customer: TestUser
) -> None:
    assert await create_admin(settings, customer.email, PASSWORD, None) == 0
    assert await create_admin(settings, customer.email, PASSWORD, None) == 0

    stored = await user_row(app, customer.id)
    assert (stored.role, stored.is_active, stored.full_name) == ("admin", True, "Casey Customer")
    login = await client.post(LOGIN, json={"email": customer.email, "password": PASSWORD})
    assert login.status_code == 200


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [("not-an-email", PASSWORD, "invalid e-mail"), ("a@example.com", "short", "invalid password")],
)
async def test_bad_input_exits_2_with_one_line(
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    email: str,
    password: str,
    message: str,
) -> None:
    assert await create_admin(settings, email, password, None) == 2

    err = capsys.readouterr().err
    assert message in err
    assert password not in err
