"""The edge: one pure-ASGI layer in front of the app for what every request needs.

Request id, client IP, header-size limit, trusted host, body-size limit and body timeout,
security headers, `Cache-Control`, the access-log line, the Prometheus metrics, and the 500
envelope for anything unhandled (so that even a crash carries the headers). One layer instead
of five: each pure-ASGI layer costs a call, a closure and a pass over the headers per request,
and on a health check these layers cost as much as the framework itself.

It calls the units that define the rules rather than copying them: the client-IP resolver,
the host check, Starlette's GZip with the compressed representation's own ETag, our envelope
CORS (those engaged only when the request asks for them: an `Accept-Encoding` with gzip, an
`Origin`), and the HEAD-as-GET step.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefront.core.config import Settings
from storefront.core.errors import (
    BadRequest,
    HeadersTooLarge,
    InternalError,
    PayloadTooLarge,
    error_response,
)
from storefront.core.http_cache import EncodedETagMiddleware
from storefront.core.logging import BoundOnce, get_logger
from storefront.core.metrics import Metrics
from storefront.core.middleware import (
    BodyTimeout,
    BodyTooLarge,
    ClientAddressResolver,
    EnvelopeCORSMiddleware,
    HeadAsGetMiddleware,
    TrustedHostMiddleware,
)
from storefront.core.routing import route_template

access_log = BoundOnce("storefront.access")
error_logger = get_logger("storefront.errors")

# Like nginx's default buffers: more header bytes than this is 431, not a route's problem.
MAX_HEADER_BYTES = 16_384
GZIP_MINIMUM_BYTES = 1024
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DOCS_PATHS = ("/docs", "/redoc")

_JSON_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI and ReDoc load their bundles from jsDelivr and start with an inline script.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src 'self' data: https://cdn.jsdelivr.net; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'"
)


def _encode(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def security_headers(hsts: bool) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """The headers added to every response: (for JSON, for the docs pages)."""
    common = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
    ]
    if hsts:
        common.append(("strict-transport-security", "max-age=63072000; includeSubDomains"))
    return (
        _encode([*common, ("content-security-policy", _JSON_CSP)]),
        _encode([*common, ("content-security-policy", _DOCS_CSP)]),
    )


@dataclass(slots=True)
class RequestHeaders:
    """What the edge reads from the request headers, in one pass."""

    size: int = 0
    request_id: bytes | None = None
    content_length: bytes | None = None
    origin: bool = False
    gzip: bool = False

    @classmethod
    def read(cls, raw: Iterable[tuple[bytes, bytes]]) -> RequestHeaders:
        found = cls()
        size = 0
        for name, value in raw:
            size += len(name) + len(value)
            if name == b"x-request-id":
                found.request_id = value
            elif name == b"content-length":
                found.content_length = value
            elif name == b"origin":
                found.origin = True
            elif name == b"accept-encoding":
                found.gzip = b"gzip" in value
        found.size = size
        return found


# New request ids: 32 hex digits, a random half per process and a counter. Unique, which is
# all an id must be, without the system call that uuid4() makes for every request.
_id_prefix = secrets.token_hex(8)
_id_counter = itertools.count(1)


def _new_id_prefix() -> None:
    global _id_prefix
    _id_prefix = secrets.token_hex(8)


os.register_at_fork(after_in_child=_new_id_prefix)  # a forked worker gets a prefix of its own


def new_request_id() -> str:
    return f"{_id_prefix}{next(_id_counter) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


def request_id_of(headers: RequestHeaders) -> str:
    """The client's `X-Request-ID` when it is 1-64 of `[A-Za-z0-9._-]`, else a new one."""
    supplied = headers.request_id
    if supplied is not None:
        text = supplied.decode("latin-1")
        if _REQUEST_ID_RE.fullmatch(text):
            return text
    return new_request_id()


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    """The settings of the edge, taken from `Settings` once."""

    trusted_proxies: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    max_body_bytes: int
    body_timeout_seconds: float
    hsts: bool
    cors: dict[str, Any]

    @classmethod
    def from_settings(cls, settings: Settings, cors: dict[str, Any]) -> EdgeConfig:
        return cls(
            trusted_proxies=tuple(settings.trusted_proxies),
            allowed_hosts=tuple(settings.effective_allowed_hosts),
            max_body_bytes=settings.max_body_bytes,
            body_timeout_seconds=settings.body_timeout_seconds,
            hsts=settings.is_production,
            cors=cors,
        )


# --------------------------------------------------------------------------- body limit


def limited_receive(receive: Receive, max_bytes: int, timeout_seconds: float) -> Receive:
    """`receive` that raises 413 once more than `max_bytes` of body arrived (chunked bodies
    declare no length), and 408 when the body is not in within `timeout_seconds` of the first
    read (uvicorn has no body timeout of its own)."""
    received = 0
    deadline: float | None = None

    async def receive_limited() -> Message:
        nonlocal received, deadline
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + timeout_seconds
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise BodyTimeout from None
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise BodyTooLarge
        return message

    return receive_limited


def declared_length_refusal(declared: bytes | None, max_bytes: int) -> ASGIApp | None:
    """The answer to a `Content-Length` that is not a number, or is over the limit."""
    if declared is None:
        return None
    close = {"Connection": "close"}
    if not declared.isdigit():
        return error_response(BadRequest("Invalid Content-Length header", headers=close))
    if int(declared) > max_bytes:
        return error_response(PayloadTooLarge(details={"max_bytes": max_bytes}, headers=close))
    return None


# --------------------------------------------------------------------------- the layer


class ResponseHeaders:
    """The `send` of a request: adds the security headers, `Cache-Control: no-store` (unless
    the app set one), the request id, and drops `Server`; remembers the status."""

    __slots__ = ("extra", "request_id", "send", "started", "status")

    def __init__(self, send: Send, extra: list[tuple[bytes, bytes]], request_id: str) -> None:
        self.send = send
        self.extra = extra
        self.request_id = (b"x-request-id", request_id.encode("ascii"))
        self.status = 500
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            raw = [h for h in message.get("headers", ()) if h[0].lower() != b"server"]
            present = {name.lower() for name, _ in raw}
            raw.extend(h for h in self.extra if h[0] not in present)
            if b"cache-control" not in present:
                raw.append((b"cache-control", b"no-store"))
            raw.append(self.request_id)
            message["headers"] = raw
        await self.send(message)


class EdgeMiddleware:
    """The outermost layer of the app (inside only Starlette's own error middleware)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        config: EdgeConfig,
        metrics: Metrics | None,
        fixed_answers: Mapping[str, bytes] | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.metrics = metrics
        # `GET`/`HEAD` paths whose JSON answer never changes (the liveness probe): answered
        # here, without entering the framework, because a probe every few seconds from every
        # kubelet, load balancer and monitor should cost next to nothing.
        self.fixed_answers = {
            path: (body, str(len(body)).encode()) for path, body in (fixed_answers or {}).items()
        }
        self.resolver = ClientAddressResolver(config.trusted_proxies)
        self.hosts = TrustedHostMiddleware(app, allowed_hosts=config.allowed_hosts)
        self.api_headers, self.docs_headers = security_headers(config.hsts)
        self._chains: dict[tuple[bool, bool, bool], ASGIApp] = {}

    def chain(self, *, cors: bool, gzip: bool, head: bool) -> ASGIApp:
        """The app behind the edge, with CORS, GZip and HEAD-as-GET only where needed."""
        key = (cors, gzip, head)
        app = self._chains.get(key)
        if app is None:
            app = HeadAsGetMiddleware(self.app) if head else self.app
            if gzip:
                # A compressed body gets an ETag of its own, just outside the compression.
                app = EncodedETagMiddleware(GZipMiddleware(app, minimum_size=GZIP_MINIMUM_BYTES))
            if cors:
                app = EnvelopeCORSMiddleware(app, **self.config.cors)
            self._chains[key] = app
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        headers = RequestHeaders.read(scope["headers"])
        request_id = request_id_of(headers)
        client_ip = self.resolver.resolve(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_ip"] = client_ip
        docs = scope["path"].startswith(_DOCS_PATHS)
        response = ResponseHeaders(
            send, self.docs_headers if docs else self.api_headers, request_id
        )
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self._serve(scope, receive, response, headers)
        except Exception:
            await self._crashed(scope, receive, response, client_ip)
        finally:
            self._record(scope, response.status, time.perf_counter() - started_at, client_ip)
            structlog.contextvars.reset_contextvars(**tokens)

    async def _serve(
        self, scope: Scope, receive: Receive, send: ResponseHeaders, headers: RequestHeaders
    ) -> None:
        if headers.size > MAX_HEADER_BYTES:
            await error_response(HeadersTooLarge())(scope, receive, send)
            return
        if not self.hosts.allowed(scope):
            await error_response(BadRequest("Invalid host header"))(scope, receive, send)
            return
        refusal = declared_length_refusal(headers.content_length, self.config.max_body_bytes)
        if refusal is not None:
            if headers.origin:
                refusal = EnvelopeCORSMiddleware(refusal, **self.config.cors)
            await refusal(scope, receive, send)
            return
        fixed = self.fixed_answers.get(scope["path"])
        if fixed is not None and scope["method"] in ("GET", "HEAD") and not headers.origin:
            await self._fixed_answer(scope, send, *fixed)
            return
        app = self.chain(cors=headers.origin, gzip=headers.gzip, head=scope["method"] == "HEAD")
        limited = limited_receive(
            receive, self.config.max_body_bytes, self.config.body_timeout_seconds
        )
        await app(scope, limited, send)

    async def _fixed_answer(
        self, scope: Scope, send: ResponseHeaders, body: bytes, length: bytes
    ) -> None:
        scope["edge_route"] = scope["path"]  # the route's label in logs and metrics
        headers = [(b"content-type", b"application/json"), (b"content-length", length)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    async def _crashed(
        self, scope: Scope, receive: Receive, send: ResponseHeaders, client_ip: str
    ) -> None:
        error_logger.exception(
            "unhandled_exception", method=scope["method"], path=scope["path"], client_ip=client_ip
        )
        if send.started:
            raise  # the server closes the connection; nothing else can be said
        send.status = 500
        response = error_response(InternalError())
        await response(scope, receive, send)

    def _record(self, scope: Scope, status: int, seconds: float, client_ip: str) -> None:
        route = scope.get("edge_route") or route_template(scope)
        if self.metrics is not None:
            self.metrics.observe(scope["method"], route, status, seconds)
        access_log.get().info(
            "request",
            method=scope["method"],
            route=route,
            path=scope["path"] if route is None else None,
            status=status,
            duration_ms=round(seconds * 1000, 2),
            client_ip=client_ip,
        )
