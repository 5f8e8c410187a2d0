"""Traces (STOREFRONT_OTEL_ENABLED): one server span per request with its statements' spans,
a caller's `traceparent` continued, no secrets in spans, trace ids in log lines, spans
exported to an OTLP collector as the standard variables say, and nothing loaded when off."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from storefront.core.config import Settings
from storefront.core.security import hash_opaque_token
from tests.support.clients import make_client
from tests.support.environment import make_settings
from tests.support.factories import ProductFactory, TestUser

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture(autouse=True)
def otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Spans go to the test's in-memory exporter only; ops capturing every request header
    # must still not see credentials.
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", ".*")


@pytest.fixture
def settings(database_url: str, otel_environment: None) -> Settings:
    return make_settings(database_url, otel_enabled=True)


@pytest.fixture
def exporter(app: FastAPI) -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    app.state.tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    yield memory
    # One app per server process; a test run builds many, so undo what instrumenting did.
    FastAPIInstrumentor.uninstrument_app(app)
    SQLAlchemyInstrumentor().uninstrument()
    app.state.tracer_provider.shutdown()


def server_span(spans: tuple[ReadableSpan, ...]) -> ReadableSpan:
    servers = [span for span in spans if span.kind is SpanKind.SERVER]
    assert len(servers) == 1, [span.name for span in spans]
    return servers[0]


def attribute_text(spans: tuple[ReadableSpan, ...]) -> str:
    return json.dumps([dict(span.attributes or {}) for span in spans], default=str)


async def test_one_request_is_one_server_span_with_its_statements_as_children(
    client: AsyncClient,
    customer: TestUser,
    make_product: ProductFactory,
    exporter: InMemorySpanExporter,
) -> None:
    product = await make_product()
    body = {"items": [{"product_id": str(product.id), "quantity": 1}]}
    order_id = (await client.post("/api/v1/orders", json=body, headers=customer.headers)).json()[
        "id"
    ]
    exporter.clear()

    response = await client.get(f"/api/v1/orders/{order_id}", headers=customer.headers)

    assert response.status_code == 200
    spans = exporter.get_finished_spans()
    server = server_span(spans)
    assert server.name == "GET /api/v1/orders/{order_id}"
    attributes = dict(server.attributes or {})
    assert attributes["http.route"] == "/api/v1/orders/{order_id}"
    assert attributes["http.target"] == "/api/v1/orders/{order_id}"
    assert attributes["http.status_code"] == 200
    children = [span for span in spans if span is not server]
    statements = [str((span.attributes or {}).get("db.statement", "")) for span in children]
    assert any("FROM orders" in statement for statement in statements), statements
    assert server.context is not None
    for child in children:
        assert child.kind is SpanKind.CLIENT
        assert child.parent is not None
        assert child.parent.span_id == server.context.span_id
        assert child.context is not None
        assert child.context.trace_id == server.context.trace_id
    assert order_id not in attribute_text(spans)  # the template, never the raw path


async def test_a_traceparent_from_the_caller_is_continued(
    client: AsyncClient, exporter: InMemorySpanExporter
) -> None:
    traceparent = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"

    response = await client.get("/api/v1/products", headers={"traceparent": traceparent})

    assert response.status_code == 200
    server = server_span(exporter.get_finished_spans())
    assert server.context is not None
    assert server.context.trace_id == int(TRACE_ID, 16)
    assert server.parent is not None
    assert server.parent.is_remote
    assert server.parent.span_id == int(PARENT_SPAN_ID, 16)


async def test_spans_carry_no_credentials_query_values_or_sql_parameters(
    client: AsyncClient, customer: TestUser, exporter: InMemorySpanExporter
) -> None:
    login = await client.post(
        "/api/v1/auth/login", json={"email": customer.email, "password": customer.password}
    )
    tokens = login.json()
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, headers=access
    )
    verify = await client.post("/api/v1/auth/verify?token=query-secret-123", json={"token": "x"})
    me = await client.get("/api/v1/users/me", headers=access)

    assert (login.status_code, refreshed.status_code, me.status_code) == (200, 200, 200)
    assert verify.status_code == 400
    spans = exporter.get_finished_spans()
    text = attribute_text(spans)
    for secret in (
        tokens["access_token"],
        tokens["refresh_token"],
        hash_opaque_token(tokens["refresh_token"]),  # a parameter of the refresh statements
        customer.password,
        customer.email,  # a parameter of the login query
        "query-secret-123",
    ):
        assert secret not in text
    servers = [span for span in spans if span.kind is SpanKind.SERVER]
    assert [span.name for span in servers] == [
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/refresh",
        "POST /api/v1/auth/verify",
        "GET /api/v1/users/me",
    ]
    # Headers were captured (as ops asked), and the credentials among them redacted.
    me_attributes = dict(servers[-1].attributes or {})
    assert me_attributes["http.request.header.authorization"] == ("[REDACTED]",)
    assert dict(servers[2].attributes or {})["http.url"] == "http://testserver/api/v1/auth/verify"


async def test_log_lines_of_a_traced_request_carry_its_trace_and_span_ids(
    client: AsyncClient, exporter: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    response = await client.get("/api/v1/_probe/boom")  # logs the crash, then the access line

    assert response.status_code == 500
    server = server_span(exporter.get_finished_spans())
    assert server.context is not None
    request_id = response.headers["x-request-id"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    mine = [line for line in lines if line.get("request_id") == request_id]
    assert [line["event"] for line in mine] == ["unhandled_exception", "request"]
    for line in mine:
        assert line["trace_id"] == f"{server.context.trace_id:032x}"
        assert line["span_id"] == f"{server.context.span_id:016x}"


async def test_probes_and_scrapes_are_not_traced(
    client: AsyncClient, exporter: InMemorySpanExporter
) -> None:
    for path in ("/health/live", "/health/ready", "/metrics"):
        assert (await client.get(path)).status_code == 200

    assert exporter.get_finished_spans() == ()


class CollectorHandler(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that keeps what it is sent."""

    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    received: list[tuple[str, str, bytes]] = []
    handler = type("Handler", (CollectorHandler,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


async def test_spans_reach_the_collector_named_by_the_standard_variables(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    collector: tuple[str, list[tuple[str, str, bytes]]],
    build_app: Any,
) -> None:
    endpoint, received = collector
    monkeypatch.delenv("OTEL_TRACES_EXPORTER")  # the default: OTLP
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "storefront-eu-1")
    app = build_app(make_settings(database_url, otel_enabled=True))
    try:
        async with app.router.lifespan_context(app), make_client(app) as client:
            assert (await client.get("/api/v1/products")).status_code == 200
        assert app.state.tracer_provider.force_flush()
    finally:
        FastAPIInstrumentor.uninstrument_app(app)
        SQLAlchemyInstrumentor().uninstrument()
        app.state.tracer_provider.shutdown()

    assert [(path, kind) for path, kind, _ in received] == [
        ("/v1/traces", "application/x-protobuf")
    ]
    export = ExportTraceServiceRequest.FromString(received[0][2])
    resource = {a.key: a.value.string_value for a in export.resource_spans[0].resource.attributes}
    names = [s.name for rs in export.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert resource["service.name"] == "storefront-eu-1"
    assert "GET /api/v1/products" in names


def test_with_telemetry_off_no_tracing_code_is_loaded(fresh_database_url: str) -> None:
    """The hot path cannot run what was never imported. (FastAPI itself imports the
    OpenTelemetry API, whose calls are no-ops without an SDK: only the API may be there.)"""
    program = f"""
import asyncio, sys
import httpx
from storefront.core.config import Settings
from storefront.main import create_app

app = create_app(Settings(_env_file=None, environment="test", secret_key="k" * 40,
                          database_url={fresh_database_url!r}, log_format="json"))

async def main():
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/api/v1/products")).status_code == 200

asyncio.run(main())
print(sorted(name for name in sys.modules if name.startswith(
    ("opentelemetry.sdk", "opentelemetry.instrumentation", "opentelemetry.exporter",
     "storefront.core.telemetry"))))
"""
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
