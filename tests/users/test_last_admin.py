"""At least one active administrator always remains: the last cannot close their account,
and two admins demoting or disabling each other at the same instant leave one of them."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select, update

from storefront.users.models import User
from tests.support.assertions import assert_error
from tests.support.clients import ME, make_client
from tests.support.concurrency import ServerTimeline
from tests.support.environment import DEFAULT_PASSWORD
from tests.support.factories import TestUser, UserFactory
from tests.support.rows import user_row

USERS = "/api/v1/admin/users"


async def close_account(client: AsyncClient, user: TestUser) -> int:
    body = {"current_password": DEFAULT_PASSWORD}
    response = await client.request("DELETE", ME, json=body, headers=user.headers)
    return response.status_code


async def test_the_last_admin_cannot_close_their_account(
    app: FastAPI, client: AsyncClient, admin: TestUser
) -> None:
    response = await client.request(
        "DELETE", ME, json={"current_password": DEFAULT_PASSWORD}, headers=admin.headers
    )

    assert_error(response, 409, "CONFLICT")
    assert (await user_row(app, admin.id)).is_active is True


async def test_an_admin_with_a_colleague_can_close_their_account(
    app: FastAPI, client: AsyncClient, admin: TestUser, make_user: UserFactory
) -> None:
    await make_user(role="admin")

    assert await close_account(client, admin) == 204
    assert (await user_row(app, admin.id)).is_active is False


async def test_a_disabled_admin_does_not_count(
    app: FastAPI, client: AsyncClient, admin: TestUser, make_user: UserFactory
) -> None:
    await make_user(role="admin", is_active=False)

    assert await close_account(client, admin) == 409


@pytest.mark.postgres
@pytest.mark.parametrize(
    "change", [{"role": "customer"}, {"is_active": False}], ids=["demote", "disable"]
)
async def test_two_admins_removing_each_other_at_once_leave_one(
    app: FastAPI, make_user: UserFactory, change: dict[str, object]
) -> None:
    first = await make_user(role="admin")
    second = await make_user(role="admin")
    timeline = ServerTimeline(app)
    overlapping_rounds = 0
    for round_number in range(5):
        labels = [f"round{round_number}-{n}" for n in range(2)]
        clients = [make_client(timeline) for _ in range(2)]
        responses = await asyncio.gather(
            clients[0].patch(
                f"{USERS}/{second.id}",
                json=change,
                headers={**first.headers, "X-Request-ID": labels[0]},
            ),
            clients[1].patch(
                f"{USERS}/{first.id}",
                json=change,
                headers={**second.headers, "X-Request-ID": labels[1]},
            ),
        )
        for client in clients:
            await client.aclose()

        # One wins; the other is refused: 409 (the last admin), or, when its own account was
        # read after the winner committed, 403 (demoted) or 401 (disabled).
        assert sorted(r.status_code for r in responses) in ([200, 401], [200, 403], [200, 409])
        overlapping_rounds += timeline.overlapped(labels)
        async with app.state.database.sessionmaker() as session:
            remaining = await session.scalar(
                select(func.count())
                .select_from(User)
                .where(User.role == "admin", User.is_active.is_(True))
            )
            assert remaining == 1
            # Both admins again, for the next round.
            await session.execute(
                update(User)
                .where(User.id.in_([first.id, second.id]))
                .values(role="admin", is_active=True, tokens_valid_after=None)
            )
            await session.commit()
    assert overlapping_rounds >= 3
