"""The edge layer (core.edge): every answer, refusals included, carries the request id, the
security headers, one access-log line and its metrics; CORS and GZip apply only when asked."""

from __future__ import annotations

import json
import re

import pytest
from httpx import AsyncClient

from storefront.core.logging import _json_line
from tests.support.clients import make_client
from tests.support.factories import AppFactory

ORIGIN = "http://localhost:5173"  # allowed by the test settings


def _request_lines(output: str) -> list[dict[str, object]]:
    lines = [json.loads(text) for text in output.splitlines() if text.startswith("{")]
    return [line for line in lines if line.get("event") == "request"]


async def test_a_refused_body_still_answers_the_allowed_origin(make_app_with: AppFactory) -> None:
    """A 413 decided from `Content-Length` goes out through CORS, so the browser can read it."""
    app = await make_app_with(max_body_bytes=1024)
    async with make_client(app) as http:
        response = await http.post(
            "/api/v1/_probe/echo",
            content=b"x" * 2048,
            headers={"Content-Type": "application/json", "Origin": ORIGIN},
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["x-request-id"] == response.json()["error"]["request_id"]
    assert response.headers["connection"] == "close"


async def test_large_responses_are_not_compressed_for_clients_without_gzip(
    client: AsyncClient,
) -> None:
    plain = await client.get("/api/v1/_probe/big", headers={"Accept-Encoding": "identity"})
    compressed = await client.get("/api/v1/_probe/big", headers={"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in plain.headers
    assert len(plain.json()["items"]) == 500
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.headers["vary"] == "Accept-Encoding"
    assert int(compressed.headers["content-length"]) < int(plain.headers["content-length"])
    assert compressed.json() == plain.json()  # httpx decoded it


async def test_refusals_at_the_edge_are_logged_and_counted(
    make_app_with: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    app = await make_app_with(allowed_hosts=["shop.example.com"])
    async with make_client(app) as http:
        bad_host = await http.get("/api/v1/products", headers={"Host": "evil.example"})
        too_big = await http.get("/api/v1/products", headers={"X-Filler": "a" * 20_000})
        metrics = await http.get("/metrics", headers={"Host": "shop.example.com"})
    assert bad_host.status_code == 400
    assert too_big.status_code == 431
    for response in (bad_host, too_big):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-request-id"] == response.json()["error"]["request_id"]
    lines = _request_lines(capsys.readouterr().out)
    assert [(line["status"], line["path"]) for line in lines[:2]] == [
        (400, "/api/v1/products"),
        (431, "/api/v1/products"),
    ]
    assert 'route="<unmatched>",status="400"} 1.0' in metrics.text
    assert 'route="<unmatched>",status="431"} 1.0' in metrics.text


async def test_each_request_is_counted_once_per_label_set(client: AsyncClient) -> None:
    """Label children are resolved once and reused: the counts still add up."""
    for _ in range(3):
        await client.get("/health/live")
    await client.get("/api/v1/_probe/boom")
    text = (await client.get("/metrics")).text
    assert 'storefront_http_requests_total{method="GET",route="/health/live",status="200"} 3.0' in (
        text
    )
    assert 'route="/api/v1/_probe/boom",status="500"} 1.0' in text


async def test_generated_request_ids_are_32_hex_digits_and_unique(client: AsyncClient) -> None:
    ids = {(await client.get("/health/live")).headers["x-request-id"] for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)


async def test_the_liveness_probe_answered_at_the_edge_is_the_routes_answer(
    client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """`/health/live` never enters the framework, yet answers, logs and counts as its route."""
    edge = await client.get("/health/live")
    head = await client.head("/health/live")
    # With an `Origin`, CORS applies: the framework's route answers, through CORS.
    framework = await client.get("/health/live", headers={"Origin": ORIGIN})
    metrics = (await client.get("/metrics")).text

    assert edge.status_code == head.status_code == framework.status_code == 200
    assert edge.content == framework.content == b'{"status":"ok"}'
    assert edge.headers["content-type"] == framework.headers["content-type"]
    assert head.content == b""
    assert head.headers["content-length"] == str(len(edge.content))
    assert framework.headers["access-control-allow-origin"] == ORIGIN
    for response in (edge, head):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-request-id"]
    lines = _request_lines(capsys.readouterr().out)
    assert [(line["method"], line["route"], line["status"]) for line in lines[:3]] == [
        ("GET", "/health/live", 200),
        ("HEAD", "/health/live", 200),
        ("GET", "/health/live", 200),
    ]
    assert 'method="GET",route="/health/live",status="200"} 2.0' in metrics
    assert 'method="HEAD",route="/health/live",status="200"} 1.0' in metrics


def test_a_log_value_orjson_refuses_still_makes_a_json_line() -> None:
    line = _json_line({"event": "x", "huge": 2**70, "when": b"bytes", 3: "non-str key"})
    assert json.loads(line)["huge"] == 2**70
