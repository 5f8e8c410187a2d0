"""Tokens and ids for the wrk scripts, fetched from a server through its public API.

The GET scenarios read as user 1; orders are posted as user 2, so that posting does not
change the list that `GET /orders` pages through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from benchkit.seed import SEED_PASSWORD, email_of

READER = 1
POSTER = 2
PRODUCT_COUNT = 100  # post_order.lua cycles through these, spreading the row locks


class ApiError(Exception):
    """An answer other than the expected 2xx while collecting fixtures."""


@dataclass(frozen=True)
class Fixtures:
    reader_token: str
    poster_token: str
    order_id: str
    product_ids: tuple[str, ...]


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    if not response.is_success:
        raise ApiError(f"{method} {path}: {response.status_code} {response.text[:300]}")
    return response.json()


def login(client: httpx.Client, email: str) -> str:
    body = {"email": email, "password": SEED_PASSWORD}
    token: str = _call(client, "POST", "/api/v1/auth/login", json=body)["access_token"]
    return token


def fetch_fixtures(base_url: str) -> Fixtures:
    """Log in as the reader and the poster; the reader's newest order; 100 product ids."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        reader, poster = login(client, email_of(READER)), login(client, email_of(POSTER))
        auth = {"Authorization": f"Bearer {reader}"}
        orders = _call(client, "GET", "/api/v1/orders?limit=1", headers=auth)["items"]
        products = _call(client, "GET", f"/api/v1/products?limit={PRODUCT_COUNT}&in_stock=true")
    if not orders:
        raise ApiError(f"{email_of(READER)} has no orders: was the database seeded?")
    return Fixtures(
        reader_token=reader,
        poster_token=poster,
        order_id=str(orders[0]["id"]),
        product_ids=tuple(str(item["id"]) for item in products["items"]),
    )
