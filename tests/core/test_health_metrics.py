"""Health probes, metrics and the OpenAPI document."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from httpx import AsyncClient

from storefront.core.migrations import alembic_config
from tests.support.clients import make_client
from tests.support.factories import AppFactory


async def test_live_never_touches_the_database(make_app_with: AppFactory) -> None:
    app = await make_app_with(database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none")
    async with make_client(app) as http:
        response = await http.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_database_is_at_head(client: AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}


@pytest.fixture
def behind_database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"
    command.upgrade(alembic_config(url), "0001_baseline")
    return url


async def test_ready_is_503_when_migrations_are_behind(
    make_app_with: AppFactory, behind_database_url: str
) -> None:
    app = await make_app_with(database_url=behind_database_url)
    async with make_client(app) as http:
        response = await http.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "ok", "migrations": "behind"}
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"


async def test_ready_is_503_when_database_is_unreachable(make_app_with: AppFactory) -> None:
    app = await make_app_with(database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none")
    async with make_client(app) as http:
        response = await http.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable"


async def test_metrics_label_by_route_template(client: AsyncClient) -> None:
    for item in ("6f1c2d0e-9b8a-4f1e-8a7b-1c2d3e4f5a6b", "00000000-0000-4000-8000-000000000001"):
        assert (await client.get(f"/api/v1/_probe/items/{item}")).status_code == 200
    await client.get("/api/v1/nowhere/at/all")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    series = (
        'storefront_http_requests_total{method="GET",'
        'route="/api/v1/_probe/items/{item_id}",status="200"} 2.0'
    )
    assert series in text
    assert 'route="<unmatched>",status="404"' in text
    assert "6f1c2d0e" not in text
    assert "storefront_http_request_duration_seconds_bucket" in text


async def test_metrics_can_be_switched_off(make_app_with: AppFactory) -> None:
    app = await make_app_with(metrics_enabled=False)
    async with make_client(app) as http:
        response = await http.get("/metrics")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def _envelopes(schema: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    """The envelope schemas an error response may carry (one, or several in `anyOf`)."""
    refs = [schema, *schema.get("anyOf", [])]
    return [
        components[ref["$ref"].removeprefix("#/components/schemas/")]
        for ref in refs
        if "$ref" in ref
    ]


async def test_openapi_documents_the_envelope_and_operation_ids(client: AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    components = document["components"]["schemas"]
    assert "HTTPValidationError" not in components
    seen: set[str] = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            tag = operation["tags"][0]
            assert operation["operationId"].startswith(f"{tag}-"), (path, method)
            assert operation["operationId"] not in seen
            seen.add(operation["operationId"])
            for status, answer in operation["responses"].items():
                if int(status) < 400:
                    continue
                envelopes = _envelopes(answer["content"]["application/json"]["schema"], components)
                assert envelopes, (path, method, status)
                for envelope in envelopes:
                    body_ref = envelope["properties"]["error"]["$ref"]
                    body = components[body_ref.removeprefix("#/components/schemas/")]
                    assert body["required"] == ["code", "message", "details", "request_id"]
                    assert "const" in body["properties"]["code"], (path, method, status)
            if path.startswith("/api/"):
                assert "429" in operation["responses"]
    assert "health-live" in seen


async def test_openapi_request_strings_refuse_nul_like_the_service(client: AsyncClient) -> None:
    """The input guard refuses NUL in queries and JSON bodies; the document says so, on every
    free-form request string (and nowhere in responses)."""
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    no_nul = "^[^\\x00]*$"

    assert schemas["ProductCreate"]["properties"]["description"]["pattern"] == no_nul
    assert schemas["ProductUpdate"]["properties"]["description"]["pattern"] == no_nul
    assert schemas["ProductCreate"]["properties"]["sku"]["pattern"] != no_nul  # its own pattern
    assert "pattern" not in schemas["ProductRead"]["properties"]["description"]
    search = next(
        p for p in document["paths"]["/api/v1/products"]["get"]["parameters"] if p["name"] == "q"
    )
    assert search["schema"]["anyOf"][0]["pattern"] == no_nul


async def test_openapi_cursor_pattern_describes_exactly_the_accepted_cursors(
    client: AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    cursor = next(
        p
        for p in document["paths"]["/api/v1/products"]["get"]["parameters"]
        if p["name"] == "cursor"
    )
    pattern = cursor["schema"]["anyOf"][0]["pattern"]

    # Any string of that shape is a cursor the service accepts ...
    for well_formed in ("0-" + "0" * 32, "99999999999999999-" + "f" * 32):
        assert re.fullmatch(pattern, well_formed)
        response = await client.get("/api/v1/products", params={"cursor": well_formed})
        assert response.status_code == 200, response.text
    # ... and anything else is a 422.
    for malformed in ("", "1-" + "F" * 32, "1" * 18 + "-" + "0" * 32, "bm90fGEtdXVpZA"):
        assert not re.fullmatch(pattern, malformed)
        response = await client.get("/api/v1/products", params={"cursor": malformed})
        assert response.status_code == 422, malformed


async def test_routes_of_included_routers_are_labelled_with_their_full_template(
    client: AsyncClient,
) -> None:
    missing = "00000000-0000-4000-8000-000000000002"
    assert (await client.get(f"/api/v1/products/{missing}")).status_code == 404
    assert (await client.get("/api/v1/products")).status_code == 200

    text = (await client.get("/metrics")).text

    assert 'method="GET",route="/api/v1/products/{product_id}",status="404"} 1.0' in text
    assert 'method="GET",route="/api/v1/products",status="200"} 1.0' in text
