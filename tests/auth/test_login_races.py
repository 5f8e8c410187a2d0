"""An ended login stays ended, even with a refresh in flight (PostgreSQL, real concurrency).

Each round sends refreshes and one login-ending action at the same instant, checks on the
server's side that they really were in flight together, and then that no refresh token the
round handed out still works: the ending action won, whatever the interleaving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from httpx import AsyncClient, Response

from tests.support.clients import (
    LOGOUT,
    LOGOUT_ALL,
    PASSWORD_CHANGE,
    Session,
    login,
    make_client,
    refresh,
)
from tests.support.concurrency import ServerTimeline
from tests.support.environment import DEFAULT_PASSWORD
from tests.support.factories import AppFactory, UserFactory

pytestmark = pytest.mark.postgres

ROUNDS = 10
RACERS = 4

# Each action ends logins as the caller `sessions[0]`; the refreshes race it.
EndAction = Callable[[AsyncClient, list[Session], str], Awaitable[Response]]


async def _logout_all(http: AsyncClient, sessions: list[Session], label: str) -> Response:
    return await http.post(LOGOUT_ALL, headers={**sessions[0].headers, "X-Request-ID": label})


async def _logout_each(http: AsyncClient, sessions: list[Session], label: str) -> Response:
    # The logout of the very login whose token is being refreshed.
    return await http.post(
        LOGOUT, json={"refresh_token": sessions[1].refresh_token}, headers={"X-Request-ID": label}
    )


async def _change_password(http: AsyncClient, sessions: list[Session], label: str) -> Response:
    body = {"current_password": DEFAULT_PASSWORD, "new_password": DEFAULT_PASSWORD}
    return await http.post(
        PASSWORD_CHANGE, json=body, headers={**sessions[0].headers, "X-Request-ID": label}
    )


@pytest.mark.parametrize(
    ("action", "ended"),
    [
        (_logout_all, range(RACERS)),  # every login
        (_logout_each, [1]),  # that login
        (_change_password, range(1, RACERS)),  # every login but the caller's
    ],
    ids=["logout-all", "logout", "password-change"],
)
async def test_a_refresh_in_flight_never_outlives_the_end_of_its_login(
    make_app_with: AppFactory, make_user: UserFactory, action: EndAction, ended: range
) -> None:
    app = await make_app_with(rate_limit_enabled=False)
    timeline = ServerTimeline(app)
    user = await make_user()
    overlapping_rounds = 0
    for round_number in range(ROUNDS):
        async with make_client(app) as http:
            sessions = [await login(http, user.email) for _ in range(RACERS)]
        labels = [f"round{round_number}-refresh{n}" for n in range(RACERS)]
        clients = [make_client(timeline) for _ in range(RACERS + 1)]  # a connection each
        *refreshed, ending = await asyncio.gather(
            *(
                c.post(
                    "/api/v1/auth/refresh",
                    json={"refresh_token": s.refresh_token},
                    headers={"X-Request-ID": label},
                )
                for c, s, label in zip(clients, sessions, labels, strict=False)
            ),
            action(clients[-1], sessions, f"round{round_number}-end"),
        )
        for client in clients:
            await client.aclose()

        assert ending.status_code == 204, ending.text
        overlapping_rounds += timeline.overlapped([*labels, f"round{round_number}-end"])
        async with make_client(app) as http:
            for n in ended:
                if refreshed[n].status_code == 200:
                    issued = refreshed[n].json()["refresh_token"]
                    after = await refresh(http, issued)
                    assert after.status_code == 401, f"round {round_number}: login {n} lives on"
    # Proof that the rounds raced: the requests were in the server at the same time.
    assert overlapping_rounds >= ROUNDS // 2
