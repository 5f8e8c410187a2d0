"""Helpers of the auth and users tests: real HTTP flows and a look at what was mailed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import func, select

from storefront.auth.models import OneTimeToken, RefreshToken
from storefront.core.email import EmailMessage, MemoryEmailSender
from storefront.users.models import User
from tests.conftest import DEFAULT_PASSWORD

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
LOGOUT_ALL = "/api/v1/auth/logout-all"
PASSWORD_CHANGE = "/api/v1/auth/password/change"
PASSWORD_FORGOT = "/api/v1/auth/password/forgot"
PASSWORD_RESET = "/api/v1/auth/password/reset"
VERIFY_REQUEST = "/api/v1/auth/verify/request"
VERIFY = "/api/v1/auth/verify"
ME = "/api/v1/users/me"

_LINK = re.compile(r"(https?://\S+)\?token=(\S+)")


@dataclass
class Session:
    """What a client holds after a login."""

    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(
    client: AsyncClient,
    email: str = "ada@example.com",
    password: str = DEFAULT_PASSWORD,
    full_name: str = "Ada Lovelace",
) -> Response:
    return await client.post(
        REGISTER, json={"email": email, "password": password, "full_name": full_name}
    )


async def login(client: AsyncClient, email: str, password: str = DEFAULT_PASSWORD) -> Session:
    response = await client.post(LOGIN, json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    return Session(body["access_token"], body["refresh_token"])


async def refresh(client: AsyncClient, refresh_token: str) -> Response:
    return await client.post(REFRESH, json={"refresh_token": refresh_token})


def outbox(app: FastAPI) -> list[EmailMessage]:
    sender = app.state.email_sender
    assert isinstance(sender, MemoryEmailSender)
    return sender.outbox


def link_token(message: EmailMessage, path: str) -> str:
    """The token of the `{frontend_url}{path}?token=...` link in a mail's text."""
    match = _LINK.search(message.text)
    assert match is not None, message.text
    assert match.group(1) == f"http://localhost:5173{path}"
    return match.group(2)


def mails_to(app: FastAPI, address: str, subject_part: str) -> list[EmailMessage]:
    return [m for m in outbox(app) if m.to == address and subject_part in m.subject]


def assert_error(response: Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    return error


def error_fields(response: Response) -> Sequence[str]:
    return [e["field"] for e in response.json()["error"]["details"]["errors"]]


async def count_rows(app: FastAPI, model: type[Any]) -> int:
    async with app.state.database.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def user_row(app: FastAPI, user_id: uuid.UUID | str) -> User:
    async with app.state.database.sessionmaker() as session:
        user = await session.get(User, uuid.UUID(str(user_id)))
        assert user is not None
        return user


async def refresh_rows(app: FastAPI, user_id: uuid.UUID | str) -> list[RefreshToken]:
    async with app.state.database.sessionmaker() as session:
        rows = await session.scalars(
            select(RefreshToken)
            .where(RefreshToken.user_id == uuid.UUID(str(user_id)))
            .order_by(RefreshToken.created_at)
        )
        return list(rows)


async def one_time_rows(app: FastAPI) -> list[OneTimeToken]:
    async with app.state.database.sessionmaker() as session:
        return list(await session.scalars(select(OneTimeToken)))


SECRET_MARKERS = ("password_hash", "token_hash", "$2b$")


def assert_no_secrets(response: Response, *secrets: str) -> None:
    """Nothing in the body that only the server should know."""
    text = response.text
    for marker in (*SECRET_MARKERS, *secrets):
        assert marker not in text
