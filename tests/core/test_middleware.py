"""Cross-cutting behaviour of docs/api.md, "On every response": request id, security headers,
CORS, hosts, body limit, client IP, access log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from storefront.core.logging import redact_secrets
from tests.support.clients import make_client
from tests.support.factories import AppFactory

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


async def test_request_id_is_echoed_when_well_formed(client: AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "Ab9._-x"})
    assert response.headers["x-request-id"] == "Ab9._-x"


@pytest.mark.parametrize("bad", ["", "a" * 65, "has space", "semi;colon", "é"])
async def test_bad_request_id_is_replaced(client: AsyncClient, bad: str) -> None:
    response = await client.get("/api/v1/nowhere", headers={"X-Request-ID": bad.encode("utf-8")})
    generated = response.headers["x-request-id"]
    assert generated != bad
    assert len(generated) == 32
    assert response.json()["error"]["request_id"] == generated


async def test_generated_request_ids_differ(client: AsyncClient) -> None:
    first = await client.get("/health/live")
    second = await client.get("/health/live")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_security_headers_on_success_and_error(client: AsyncClient) -> None:
    for response in (await client.get("/health/live"), await client.get("/api/v1/nowhere")):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
        assert "server" not in response.headers
        assert "strict-transport-security" not in response.headers  # not in production


async def test_docs_have_a_relaxed_csp(client: AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "cdn.jsdelivr.net" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


async def test_hsts_in_production(make_app_with: AppFactory) -> None:
    app = await make_app_with(
        environment="production",
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
        allowed_hosts=["testserver"],
        cors_origins=["https://shop.example.com"],
    )
    async with make_client(app) as http:
        response = await http.get("/health/live")
        docs = await http.get("/docs")
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert docs.status_code == 404  # docs are off in production


async def test_cors_preflight_allowed_origin(client: AsyncClient) -> None:
    response = await client.options(
        "/api/v1/_probe/echo",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key, "
            "X-Request-ID",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = response.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "content-type", "idempotency-key", "x-request-id"):
        assert header in allowed
    assert "x-request-id" in response.headers


async def test_cors_preflight_refused_origin_is_an_envelope(client: AsyncClient) -> None:
    response = await client.options(
        "/api/v1/_probe/echo",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BAD_REQUEST"
    assert "access-control-allow-origin" not in response.headers


async def test_cors_simple_request_from_refused_origin_gets_no_cors_headers(
    client: AsyncClient,
) -> None:
    response = await client.get("/health/live", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def test_disallowed_host_is_400(make_app_with: AppFactory) -> None:
    app = await make_app_with(allowed_hosts=["api.example.com", "*.example.org"])
    async with make_client(app) as http:
        refused = await http.get("/api/v1/products", headers={"Host": "evil.test"})
        exact = await http.get("/api/v1/products", headers={"Host": "api.example.com:443"})
        wildcard = await http.get("/api/v1/products", headers={"Host": "eu.example.org"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "BAD_REQUEST"
    assert refused.headers["x-request-id"]
    assert exact.status_code == 200
    assert wildcard.status_code == 200


async def test_health_probes_pass_whatever_the_host(make_app_with: AppFactory) -> None:
    # A kubelet calls the pod by its IP address.
    app = await make_app_with(allowed_hosts=["api.example.com"])
    async with make_client(app) as http:
        live = await http.get("/health/live", headers={"Host": "10.1.2.3:8000"})
        ready = await http.get("/health/ready", headers={"Host": "10.1.2.3:8000"})
        api = await http.get("/api/v1/products", headers={"Host": "10.1.2.3:8000"})
    assert live.status_code == 200
    assert ready.status_code == 200
    assert api.status_code == 400


async def test_body_over_limit_with_content_length_is_413(make_app_with: AppFactory) -> None:
    app = await make_app_with(max_body_bytes=1024)
    async with make_client(app) as http:
        response = await http.post(
            "/api/v1/_probe/echo", content=b"x" * 2048, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_chunked_body_over_limit_is_413(make_app_with: AppFactory) -> None:
    app = await make_app_with(max_body_bytes=1024)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * 200
        yield b'", "password": "long enough"}'

    async with make_client(app) as http:
        response = await http.post(
            "/api/v1/_probe/echo", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_body_under_limit_passes(make_app_with: AppFactory) -> None:
    app = await make_app_with(max_body_bytes=1024)
    async with make_client(app) as http:
        response = await http.post(
            "/api/v1/_probe/echo", json={"name": "ok", "password": "long enough"}
        )
    assert response.status_code == 200
    assert response.json() == {"name": "ok", "count": 1}


async def test_slow_body_is_408(make_app_with: AppFactory) -> None:
    app = await make_app_with(body_timeout_seconds=0.3)

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"name": "slow",'
        await asyncio.sleep(1.0)
        yield b' "password": "long enough"}'

    async with make_client(app) as http:
        response = await http.post(
            "/api/v1/_probe/echo", content=trickle(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 408
    assert response.json()["error"]["code"] == "REQUEST_TIMEOUT"


async def test_invalid_content_length_is_400(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/_probe/echo",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "abc"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BAD_REQUEST"


async def test_large_responses_are_gzipped_small_ones_not(client: AsyncClient) -> None:
    big = await client.get("/api/v1/_probe/big", headers={"Accept-Encoding": "gzip"})
    small = await client.get("/health/live", headers={"Accept-Encoding": "gzip"})
    assert big.headers["content-encoding"] == "gzip"
    assert len(big.json()["items"]) == 500
    assert "content-encoding" not in small.headers


async def test_access_log_line_per_request(client: AsyncClient) -> None:
    with capture_logs(processors=[merge_contextvars]) as logs:
        await client.get(
            "/api/v1/_probe/items/6f1c2d0e-9b8a-4f1e-8a7b-1c2d3e4f5a6b",
            headers={"X-Request-ID": "log-1", "Authorization": "Bearer very-secret-token"},
        )
    lines = [entry for entry in logs if entry["event"] == "request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "log-1"
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/_probe/items/{item_id}"
    assert line["status"] == 200
    assert line["client_ip"] == "203.0.113.7"
    assert line["duration_ms"] >= 0
    assert "very-secret-token" not in repr(logs)


def test_secrets_are_redacted_from_log_lines() -> None:
    event = {
        "event": "x",
        "password": "hunter22",
        "headers": {"Authorization": "Bearer abc", "Cookie": "s=1", "Accept": "json"},
        "refresh_token": "r",
        "nested": [{"token": "t"}],
    }
    redacted = redact_secrets(None, "info", event)
    assert redacted["password"] == "[REDACTED]"
    assert redacted["refresh_token"] == "[REDACTED]"
    assert redacted["headers"] == {
        "Authorization": "[REDACTED]",
        "Cookie": "[REDACTED]",
        "Accept": "json",
    }
    assert redacted["nested"] == [{"token": "[REDACTED]"}]


async def test_forwarded_for_is_believed_only_from_trusted_proxies(
    make_app_with: AppFactory,
) -> None:
    app = await make_app_with(trusted_proxies=["10.0.0.0/8"])
    headers = {"X-Forwarded-For": "198.51.100.9, 10.1.2.3"}
    with capture_logs() as logs:
        async with make_client(app, client_ip="10.0.0.5") as via_proxy:
            await via_proxy.get("/health/live", headers=headers)
        async with make_client(app, client_ip="192.0.2.44") as direct:
            await direct.get("/health/live", headers=headers)
    ips = [entry["client_ip"] for entry in logs if entry["event"] == "request"]
    assert ips == ["198.51.100.9", "192.0.2.44"]


async def test_access_log_names_the_full_template_of_a_domain_route(client: AsyncClient) -> None:
    with capture_logs(processors=[merge_contextvars]) as logs:
        await client.get("/api/v1/products/00000000-0000-4000-8000-000000000003")
        await client.get("/api/v1/admin/users")
    routes = [entry["route"] for entry in logs if entry["event"] == "request"]
    assert routes == ["/api/v1/products/{product_id}", "/api/v1/admin/users"]
