"""Every non-2xx response is the envelope of docs/api.md, "Errors"."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from storefront.core.errors import is_database_unavailable
from storefront.users.models import User
from tests.support.assertions import assert_envelope
from tests.support.clients import make_client
from tests.support.factories import AppFactory


async def test_unknown_route_is_404_envelope(client: AsyncClient) -> None:
    response = await client.get("/api/v1/nowhere", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    error = assert_envelope(response.json(), "NOT_FOUND")
    assert error["request_id"] == "abc-123"


async def test_wrong_method_is_405_envelope_with_allow(client: AsyncClient) -> None:
    response = await client.delete("/health/live")
    assert response.status_code == 405
    assert_envelope(response.json(), "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/admin/products/6f1c2d0e-9b8a-4f1e-8a7b-1c2d3e4f5a6b", "PATCH, DELETE"),
        ("OPTIONS", "/api/v1/orders", "GET, HEAD, POST"),
        ("DELETE", "/api/v1/orders/6f1c2d0e-9b8a-4f1e-8a7b-1c2d3e4f5a6b/cancel", "POST"),
        ("POST", "/openapi.json", "GET, HEAD"),
    ],
)
async def test_405_allow_lists_every_method_of_the_path(
    client: AsyncClient, method: str, path: str, allowed: str
) -> None:
    # One path, several routes: `Allow` names the methods of all of them (RFC 9110).
    response = await client.request(method, path)

    assert response.status_code == 405
    assert_envelope(response.json(), "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == allowed


async def test_validation_error_lists_fields_without_echoing_secrets(client: AsyncClient) -> None:
    secret = "s3cr!"  # too short: rejected, and must not be echoed
    response = await client.post(
        "/api/v1/_probe/echo", json={"name": "", "password": secret, "count": 99}
    )
    assert response.status_code == 422
    error = assert_envelope(response.json(), "VALIDATION_ERROR")
    fields = {e["field"] for e in error["details"]["errors"]}  # type: ignore[index]
    assert fields == {"body.name", "body.password", "body.count"}
    assert secret not in response.text
    for item in error["details"]["errors"]:  # type: ignore[index]
        assert set(item) == {"field", "message", "type"}


async def test_unknown_body_field_is_422(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/_probe/echo", json={"name": "a", "password": "long enough", "role": "admin"}
    )
    assert response.status_code == 422
    error = assert_envelope(response.json(), "VALIDATION_ERROR")
    assert error["details"]["errors"][0]["field"] == "body.role"  # type: ignore[index]


async def test_malformed_json_is_422(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/_probe/echo", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert_envelope(response.json(), "VALIDATION_ERROR")


async def test_malformed_uuid_in_path_is_422(client: AsyncClient) -> None:
    response = await client.get("/api/v1/_probe/items/not-a-uuid")
    assert response.status_code == 422
    error = assert_envelope(response.json(), "VALIDATION_ERROR")
    assert error["details"]["errors"][0]["field"] == "path.item_id"  # type: ignore[index]


async def test_non_json_body_is_415(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/_probe/echo", content=b"name=a", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert_envelope(response.json(), "UNSUPPORTED_MEDIA_TYPE")


async def test_json_with_charset_and_vendor_type_are_accepted(client: AsyncClient) -> None:
    body = json.dumps({"name": "a", "password": "long enough"}).encode()
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        response = await client.post(
            "/api/v1/_probe/echo", content=body, headers={"Content-Type": content_type}
        )
        assert response.status_code == 200, content_type


async def test_unhandled_exception_is_500_envelope_with_headers_and_logged(
    client: AsyncClient,
) -> None:
    with capture_logs(processors=[merge_contextvars]) as logs:
        response = await client.get("/api/v1/_probe/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    error = assert_envelope(response.json(), "INTERNAL_ERROR")
    assert error["message"] == "Internal server error"
    assert "internal detail" not in response.text
    assert "Traceback" not in response.text
    # The outermost layer still adds the request id and the security headers.
    assert response.headers["x-request-id"] == "req-500"
    assert response.headers["x-content-type-options"] == "nosniff"
    logged = [entry for entry in logs if entry["event"] == "unhandled_exception"]
    assert len(logged) == 1
    assert logged[0]["request_id"] == "req-500"
    assert logged[0]["exc_info"] is True


async def test_a_crash_log_line_carries_the_traceback_but_no_local_variables(
    client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # The outer frames' locals hold the request headers: a bearer token among them.
    await client.get("/api/v1/_probe/boom", headers={"Authorization": "Bearer very-secret-token"})

    [line] = [
        json.loads(text)
        for text in capsys.readouterr().out.splitlines()
        if '"unhandled_exception"' in text
    ]
    assert line["exception"][0]["exc_type"] == "RuntimeError"
    assert line["exception"][0]["frames"]
    assert all("locals" not in frame for frame in line["exception"][0]["frames"])
    assert "very-secret-token" not in json.dumps(line)


async def test_error_rolls_back_the_unit_of_work(client: AsyncClient, db: AsyncSession) -> None:
    response = await client.post("/api/v1/_probe/write-then-conflict")
    assert response.status_code == 409
    assert_envelope(response.json(), "CONFLICT")
    assert await db.scalar(select(func.count()).select_from(User)) == 0


async def test_database_down_is_503_envelope(make_app_with: AppFactory) -> None:
    # Nothing listens on port 1: asyncpg raises a plain OSError, which must be a 503.
    app = await make_app_with(database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    async with make_client(app) as http:
        response = await http.get("/api/v1/_probe/db")
        ready = await http.get("/health/ready")
        live = await http.get("/health/live")
    assert response.status_code == 503
    error = assert_envelope(response.json(), "SERVICE_UNAVAILABLE")
    assert error["message"] == "The database is unavailable"
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"] == {"database": "unavailable", "migrations": "unknown"}
    assert_envelope({"error": ready.json()["error"]}, "SERVICE_UNAVAILABLE")
    assert live.status_code == 200


@pytest.mark.postgres
async def test_exhausted_pool_is_503_within_the_pool_timeout(make_app_with: AppFactory) -> None:
    app = await make_app_with(db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.3)
    async with make_client(app) as http:
        slow = asyncio.create_task(http.get("/api/v1/_probe/slow-db"))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        blocked = await http.get("/api/v1/_probe/db")
        waited = time.monotonic() - started
        assert (await slow).status_code == 200
    assert blocked.status_code == 503
    assert blocked.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert waited < 1.5


async def test_nul_characters_are_refused_at_the_edge(client: AsyncClient) -> None:
    in_body = await client.post(
        "/api/v1/_probe/echo", json={"name": "a\x00b", "password": "long enough"}
    )
    in_query = await client.get("/api/v1/_probe/big?q=a%00b")
    assert in_body.status_code == 422
    assert in_body.json()["error"]["details"]["errors"][0]["type"] == "nul_character"
    assert in_query.status_code == 422
    assert in_query.json()["error"]["details"]["errors"][0]["field"] == "query"


async def test_oversized_headers_are_431(client: AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Big": "a" * 17_000})
    assert response.status_code == 431
    assert response.json()["error"]["code"] == "REQUEST_HEADER_FIELDS_TOO_LARGE"
    assert (await client.get("/health/live", headers={"X-Fine": "a" * 8_000})).status_code == 200


async def test_deeply_nested_and_huge_numbers_are_4xx(client: AsyncClient) -> None:
    nested = await client.post(
        "/api/v1/_probe/echo",
        content=b"[" * 10_000 + b"]" * 10_000,
        headers={"Content-Type": "application/json"},
    )
    big_number = await client.post(
        "/api/v1/_probe/echo",
        content=b'{"name": "a", "password": "long enough", "count": ' + b"9" * 400 + b"}",
        headers={"Content-Type": "application/json"},
    )
    invalid_utf8 = await client.post(
        "/api/v1/_probe/echo",
        content=b'{"name": "\xff\xfe", "password": "long enough"}',
        headers={"Content-Type": "application/json"},
    )
    assert nested.status_code == 400
    assert nested.json()["error"]["code"] == "BAD_REQUEST"
    assert big_number.status_code == 422
    assert big_number.json()["error"]["details"]["errors"][0]["field"] == "body.count"
    assert invalid_utf8.status_code == 400
    assert (await client.get("/health/live")).status_code == 200


class _DriverError(Exception):
    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "unavailable"),
    [
        ("53300", True),  # sorry, too many clients already
        ("57P03", True),  # the database system is starting up
        ("08006", True),  # connection failure
        ("23505", False),  # a unique violation is a bug or a conflict, not an outage
        ("22P05", False),
    ],
)
def test_a_server_out_of_connection_slots_is_an_outage(sqlstate: str, unavailable: bool) -> None:
    exc = DBAPIError("connect", None, _DriverError("refused", sqlstate))

    assert is_database_unavailable(exc) is unavailable
