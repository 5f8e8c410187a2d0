"""Traces with OpenTelemetry, when `STOREFRONT_OTEL_ENABLED` is true.

Only `main.create_app` and `core.logging.configure_logging` import this module, and only when
telemetry is on: with it off (the default), no OpenTelemetry code is imported, let alone run.

What is traced: one SERVER span per request (FastAPI's instrumentation), named by method and
route template, and one CLIENT span per SQL statement (SQLAlchemy's), its children. A W3C
`traceparent` from the client or the proxy continues that trace. Log lines of a request carry
its `trace_id` and `span_id` (`add_trace_ids`). The standard environment says where spans go
and how many: `OTEL_EXPORTER_OTLP_ENDPOINT` (OTLP over HTTP/protobuf, port 4318 of a collector),
`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, and
`OTEL_TRACES_EXPORTER` (`otlp`, `console` or `none`).

What spans never carry: the raw path or the query string (paths hold ids; an e-mailed token may
arrive in a query), the values of `Authorization`/`Cookie` headers (redacted even if ops capture
headers), SQL parameters (statements are recorded with their placeholders only).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
)
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.http import (
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS,
    get_custom_headers,
)
from opentelemetry.util.types import Attributes
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.typing import EventDict, WrappedLogger

DEFAULT_SERVICE_NAME = "storefront"
# Probes and scrapes every few seconds per pod would drown the traces that matter.
DEFAULT_EXCLUDED_URLS = "/health/live$,/health/ready$,/metrics$"
# Redacted whatever OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_* ask to capture.
SECRET_HEADERS = ["authorization", "proxy-authorization", "cookie", "set-cookie"]
REDACTED = "[REDACTED]"
UNMATCHED_ROUTE = "<unmatched>"
# Span attributes that hold the request target, in the old and the stable HTTP conventions.
_URL_ATTRIBUTES = ("http.url", "url.full")
_PATH_ATTRIBUTES = ("http.target", "url.path")
_QUERY_ATTRIBUTE = "url.query"
_ROUTE_ATTRIBUTE = "http.route"


def instrument(app: FastAPI, engine: AsyncEngine) -> TracerProvider:
    """Trace this app's requests and its engine's statements; the provider is also kept on
    `app.state.tracer_provider` (it flushes its spans when the process exits)."""
    provider = TracerProvider(resource=_resource(app.version))
    # Before any tracer exists (tracers copy it): the sampler OTEL_TRACES_SAMPLER chose, minus
    # statements outside a request.
    provider.sampler = StatementsInRequestsOnly(provider.sampler)
    for exporter in _span_exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        server_request_hook=_keep_route_template_only,
        excluded_urls=_excluded_urls(),
        # One span per request, not one more per ASGI message.
        exclude_spans=["receive", "send"],
        http_capture_headers_sanitize_fields=[
            *SECRET_HEADERS,
            *get_custom_headers(OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS),
        ],
    )
    sqlalchemy = SQLAlchemyInstrumentor()
    if sqlalchemy.is_instrumented_by_opentelemetry:
        # One app per server process; a process that builds another (tests) traces the newest.
        sqlalchemy.uninstrument()
    # Its declared range ends below SQLAlchemy 2.1, whose engine events it relies on are
    # unchanged; tests/core/test_telemetry.py checks the statement spans on every run.
    sqlalchemy.instrument(engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True)
    app.state.tracer_provider = provider
    return provider


class StatementsInRequestsOnly(Sampler):
    """Drops the spans of statements run outside any traced request (the readiness probe's,
    every few seconds per pod, would each be a trace of one span); else asks `delegate`."""

    def __init__(self, delegate: Sampler) -> None:
        self.delegate = delegate

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self.delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"StatementsInRequestsOnly{{{self.delegate.get_description()}}}"


def add_trace_ids(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the current span's ids, as a collector shows them (hex)."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict["trace_id"] = trace.format_trace_id(span_context.trace_id)
        event_dict["span_id"] = trace.format_span_id(span_context.span_id)
    return event_dict


def _resource(version: str) -> Resource:
    """OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win; ours fill what they leave out."""
    resource = Resource.create()
    defaults: dict[str, str] = {}
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        defaults[SERVICE_NAME] = DEFAULT_SERVICE_NAME
    if SERVICE_VERSION not in resource.attributes:
        defaults[SERVICE_VERSION] = version
    return resource.merge(Resource(defaults))


def _span_exporters() -> list[SpanExporter]:
    """The exporters OTEL_TRACES_EXPORTER names (default `otlp`). A value we cannot honour
    stops the start: silently sending spans nowhere is worse."""
    names = [name.strip() for name in os.environ.get(OTEL_TRACES_EXPORTER, "otlp").split(",")]
    if "none" in names:
        return []
    exporters: list[SpanExporter] = []
    for name in filter(None, names):
        if name == "otlp":
            exporters.append(_otlp_exporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER: {name!r} is not one of otlp, console, none")
    return exporters


def _otlp_exporter() -> SpanExporter:
    protocol = os.environ.get(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) or os.environ.get(
        OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf"
    )
    if protocol != "http/protobuf":
        raise ValueError(f"OTLP protocol {protocol!r}: this build exports http/protobuf only")
    # Endpoint, headers, timeout and compression come from OTEL_EXPORTER_OTLP_*.
    return OTLPSpanExporter()


def _excluded_urls() -> str:
    return (
        os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS")
        or os.environ.get("OTEL_PYTHON_EXCLUDED_URLS")
        or DEFAULT_EXCLUDED_URLS
    )


def _keep_route_template_only(span: trace.Span, _scope: MutableMapping[str, Any]) -> None:
    """The request hook, run once the server span has its attributes: the path becomes the
    route template (FastAPI's instrumentation has set `http.route` from the matched route) and
    the query string goes."""
    if not isinstance(span, SdkSpan) or not span.is_recording():
        return
    attributes = dict(span.attributes or {})
    route = attributes.get(_ROUTE_ATTRIBUTE)
    path = route if isinstance(route, str) else UNMATCHED_ROUTE
    for key in _PATH_ATTRIBUTES:
        if key in attributes:
            span.set_attribute(key, path)
    for key in _URL_ATTRIBUTES:
        url = attributes.get(key)
        if isinstance(url, str):
            span.set_attribute(key, urlsplit(url)._replace(path=path, query="").geturl())
    if _QUERY_ATTRIBUTE in attributes:
        span.set_attribute(_QUERY_ATTRIBUTE, REDACTED)
