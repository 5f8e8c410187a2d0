"""Input crafted to break the service reaches no 500: NUL characters in forms, values the
database refuses, forged `X-Forwarded-For` hops, bent `Host` headers; and `HEAD` is served
on every `GET` route."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from structlog.testing import capture_logs

from tests.support.assertions import assert_error
from tests.support.clients import LOGIN, TOKEN, make_client
from tests.support.environment import DEFAULT_PASSWORD
from tests.support.factories import AppFactory, TestUser
from tests.support.rows import refresh_rows

# --------------------------------------------------------------------------- forms


@pytest.mark.parametrize(
    "form",
    [
        {"username": "a\x00@example.com", "password": "whatever1"},
        {"username": "a@example.com", "password": "pass\x00word"},
    ],
)
async def test_a_nul_in_the_token_form_is_422(client: AsyncClient, form: dict[str, str]) -> None:
    urlencoded = await client.post(TOKEN, data=form)
    multipart = await client.post(TOKEN, data=form, files={"unused": ("f", b"", "text/plain")})

    for response in (urlencoded, multipart):
        error = assert_error(response, 422, "VALIDATION_ERROR")
        assert error["details"]["errors"][0]["type"] == "nul_character"


# --------------------------------------------------------------------------- database values


@pytest.mark.postgres
async def test_a_value_the_database_refuses_is_422_not_500(client: AsyncClient) -> None:
    # asyncpg reports SQLSTATE 22P02 as a plain DBAPIError, not SQLAlchemy's DataError.
    response = await client.get("/api/v1/_probe/cast", params={"value": "not a number"})

    assert_error(response, 422, "VALIDATION_ERROR")
    assert "not a number" not in response.text


@pytest.mark.postgres
async def test_a_deadlock_victim_is_told_to_retry_not_500(client: AsyncClient) -> None:
    response = await client.post("/api/v1/_probe/deadlock")

    assert_error(response, 409, "CONFLICT")
    assert response.headers["retry-after"] == "1"


# --------------------------------------------------------------------------- X-Forwarded-For

PROXY = "127.0.0.1"  # trusted by default


@pytest.mark.parametrize(
    ("forwarded", "client_ip"),
    [
        ("198.51.100.9, not-an-address", "198.51.100.9"),
        ("198.51.100.9, " + "9" * 100, "198.51.100.9"),
        ("x" * 100, PROXY),
        ("198.51.100.9:4711", PROXY),
        ("2001:DB8::1", "2001:db8::1"),
    ],
)
async def test_a_forwarded_hop_that_is_not_an_address_is_ignored(
    app: FastAPI, customer: TestUser, forwarded: str, client_ip: str
) -> None:
    with capture_logs() as logs:
        async with make_client(app, client_ip=PROXY) as via_proxy:
            response = await via_proxy.post(
                LOGIN,
                json={"email": customer.email, "password": DEFAULT_PASSWORD},
                headers={"X-Forwarded-For": forwarded},
            )

    assert response.status_code == 200, response.text
    [row] = await refresh_rows(app, customer.id)
    assert row.client_ip == client_ip
    assert [e["client_ip"] for e in logs if e["event"] == "request"] == [client_ip]


# --------------------------------------------------------------------------- Host


@pytest.mark.parametrize(
    "host",
    ["localhost:@evil.example", "localhost:evil.example", "evil.example", "localhost:80:80", ""],
)
async def test_a_host_that_is_not_exactly_an_allowed_one_is_400(
    make_app_with: AppFactory, host: str
) -> None:
    app = await make_app_with(allowed_hosts=["localhost"])
    async with make_client(app) as http:
        response = await http.get("/api/v1/products", headers={"Host": host})

    assert_error(response, 400, "BAD_REQUEST")


async def test_an_allowed_host_with_a_port_is_served(make_app_with: AppFactory) -> None:
    app = await make_app_with(allowed_hosts=["localhost"])
    async with make_client(app) as http:
        response = await http.get("/api/v1/products", headers={"Host": "LocalHost:8000"})

    assert response.status_code == 200


async def _raw_get(app: FastAPI, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """One request straight through the ASGI interface (httpx cannot send two Host headers)."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/products",
        "raw_path": b"/api/v1/products",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("203.0.113.7", 5000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


@pytest.mark.parametrize("allowed_hosts", [["localhost"], ["*"]])
async def test_two_host_headers_are_400(
    make_app_with: AppFactory, allowed_hosts: list[str]
) -> None:
    app = await make_app_with(allowed_hosts=allowed_hosts)
    headers = [(b"host", b"localhost"), (b"host", b"evil.example")]

    status, body = await _raw_get(app, headers)
    one_status, _ = await _raw_get(app, headers[:1])

    assert status == 400
    assert b'"BAD_REQUEST"' in body
    assert one_status == 200


# --------------------------------------------------------------------------- HEAD


@pytest.mark.parametrize(
    ("path", "authenticated"),
    [
        ("/health/live", False),
        ("/health/ready", False),
        ("/api/v1/products", False),
        ("/api/v1/users/me", True),
        ("/api/v1/orders", True),
    ],
)
async def test_head_is_answered_on_get_routes_without_a_body(
    client: AsyncClient, customer: TestUser, path: str, authenticated: bool
) -> None:
    headers = customer.headers if authenticated else {}
    get = await client.get(path, headers=headers)
    head = await client.head(path, headers=headers)

    assert get.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["x-content-type-options"] == "nosniff"
    assert head.headers["x-request-id"]


async def test_head_of_the_metrics_is_served(client: AsyncClient) -> None:
    response = await client.head("/metrics")

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"].startswith("text/plain")


async def test_head_of_a_protected_route_needs_the_token_too(client: AsyncClient) -> None:
    response = await client.head("/api/v1/users/me")

    assert response.status_code == 401
    assert response.content == b""
    assert response.headers["www-authenticate"] == "Bearer"


async def test_head_is_logged_as_head(client: AsyncClient) -> None:
    with capture_logs() as logs:
        await client.head("/api/v1/products")
    [entry] = [e for e in logs if e["event"] == "request"]
    assert (entry["method"], entry["route"], entry["status"]) == ("HEAD", "/api/v1/products", 200)


async def test_head_on_a_post_only_route_is_405(client: AsyncClient) -> None:
    response = await client.head(LOGIN)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
