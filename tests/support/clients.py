"""Talking to the app as a client does: an HTTP client over the ASGI transport, the routes,
and the flows a test needs on its way (register, log in, refresh, an order's body)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from httpx import ASGITransport, AsyncClient, Response
from starlette.types import ASGIApp

from storefront.products.models import Product
from tests.support.environment import CLIENT_IP, DEFAULT_PASSWORD


def make_client(app: ASGIApp, client_ip: str = CLIENT_IP) -> AsyncClient:
    transport = ASGITransport(app=app, client=(client_ip, 51234))
    return AsyncClient(transport=transport, base_url="http://testserver")


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


def order_body(*lines: tuple[Product, int]) -> dict[str, Any]:
    return {"items": [{"product_id": str(p.id), "quantity": q} for p, q in lines]}


ORDERS = "/api/v1/orders"


async def place_order(
    client: AsyncClient,
    user: Any,
    make_product: Callable[..., Awaitable[Product]],
    *,
    lines: int = 1,
    quantity: int = 1,
    stock: int = 100,
) -> dict[str, Any]:
    """An order placed through the API: `quantity` units of each of `lines` new products,
    each with `stock` units; the order's body."""
    products = [await make_product(stock=stock) for _ in range(lines)]
    body = order_body(*[(product, quantity) for product in products])
    response = await client.post(ORDERS, json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    placed: dict[str, Any] = response.json()
    return placed


def ordered_product(order: dict[str, Any], line: int = 0) -> uuid.UUID:
    """The id of the product of one line of an order's body."""
    return uuid.UUID(order["items"][line]["product_id"])
