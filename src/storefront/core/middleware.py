"""Pure ASGI middleware: request context (id, client IP, security headers, access log, last-resort
500), trusted hosts, CORS in the envelope, and the request-body limit.

Pure ASGI rather than `BaseHTTPMiddleware`: no extra task per request, streaming untouched,
and the outermost layer can still answer with headers when the app raised.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

import structlog
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefront.core.errors import error_payload, error_response
from storefront.core.logging import get_logger
from storefront.core.routing import route_template

access_logger = get_logger("storefront.access")
error_logger = get_logger("storefront.errors")

REQUEST_ID_HEADER = "x-request-id"
# Like nginx's default buffers: more header bytes than this is 431, not a route's problem.
MAX_HEADER_BYTES = 16_384
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


# --------------------------------------------------------------------------- client IP


class ClientAddressResolver:
    """The client IP: the peer, or, when the peer is a trusted proxy, the right-most
    `X-Forwarded-For` entry that is not itself a trusted proxy."""

    def __init__(self, trusted: Iterable[str]) -> None:
        self.trust_all = False
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in trusted:
            if entry == "*":
                self.trust_all = True
            else:
                self.networks.append(ipaddress.ip_network(entry, strict=False))

    def is_trusted(self, host: str) -> bool:
        if self.trust_all:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def resolve(self, scope: Scope) -> str:
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if not self.is_trusted(peer):
            return peer
        forwarded = Headers(scope=scope).get("x-forwarded-for")
        if not forwarded:
            return peer
        # A hop that is not an IP address (garbage, a name, an address with a port) is not a
        # client IP: it is skipped, never used as a key or stored.
        hops = [hop for hop in map(_ip_address, forwarded.split(",")) if hop is not None]
        for hop in reversed(hops):
            if not self.is_trusted(hop):
                return hop
        return hops[0] if hops else peer


def _ip_address(text: str) -> str | None:
    """`text` as a canonical IP address, or None if it is not one."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


# --------------------------------------------------------------------------- request context


class RequestContextMiddleware:
    """Outermost layer: request id, client IP, security headers, one access-log line, and the
    500 envelope for anything unhandled (so that even a crash carries the headers)."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: Iterable[str], hsts: bool) -> None:
        self.app = app
        self.resolver = ClientAddressResolver(trusted_proxies)
        common = [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("cross-origin-opener-policy", "same-origin"),
        ]
        if hsts:
            common.append(("strict-transport-security", "max-age=63072000; includeSubDomains"))
        self.api_headers = _encode([*common, ("content-security-policy", _JSON_CSP)])
        self.docs_headers = _encode([*common, ("content-security-policy", _DOCS_CSP)])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started_at = time.perf_counter()
        header_bytes = sum(len(name) + len(value) for name, value in scope["headers"])
        supplied = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = (
            supplied if supplied and _REQUEST_ID_RE.fullmatch(supplied) else uuid.uuid4().hex
        )
        client_ip = self.resolver.resolve(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_ip"] = client_ip
        path: str = scope["path"]
        extra = self.docs_headers if path.startswith(_DOCS_PATHS) else self.api_headers
        request_id_header = (b"x-request-id", request_id.encode("ascii"))
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                raw = [h for h in message.get("headers", ()) if h[0].lower() != b"server"]
                present = {name.lower() for name, _ in raw}
                raw.extend(h for h in extra if h[0] not in present)
                if b"cache-control" not in present:
                    raw.append((b"cache-control", b"no-store"))
                raw.append(request_id_header)
                message["headers"] = raw
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            if header_bytes > MAX_HEADER_BYTES:
                too_large = error_response(
                    431, "REQUEST_HEADER_FIELDS_TOO_LARGE", "Request headers are too large"
                )
                await too_large(scope, receive, send_with_headers)
                return
            await self.app(scope, receive, send_with_headers)
        except Exception:
            error_logger.exception(
                "unhandled_exception", method=scope["method"], path=path, client_ip=client_ip
            )
            if response_started:
                raise  # the server closes the connection; nothing else can be said
            status = 500
            response = error_response(500, "INTERNAL_ERROR", "Internal server error")
            await response(scope, receive, send_with_headers)
        finally:
            route = route_template(scope)
            access_logger.info(
                "request",
                method=scope["method"],
                route=route,
                path=path if route is None else None,
                status=status,
                duration_ms=round((time.perf_counter() - started_at) * 1000, 2),
                client_ip=client_ip,
            )
            structlog.contextvars.reset_contextvars(**tokens)


# --------------------------------------------------------------------------- hosts and CORS


# `host[:port]`: a DNS name, an IPv4 address or a bracketed IPv6 literal, then digits only.
_HOST_RE = re.compile(
    r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?"
)


def host_name(scope: Scope) -> str | None:
    """The lower-cased name of the request's single, well-formed `Host` header; None when it
    is missing, malformed (`localhost:@evil.example`) or given more than once."""
    values = [value for name, value in scope["headers"] if name.lower() == b"host"]
    if len(values) != 1:
        return None
    match = _HOST_RE.fullmatch(values[0].decode("latin-1"))
    return match.group("name").lower() if match else None


class TrustedHostMiddleware:
    """The `Host` check, answering a bad one with the 400 envelope: exactly one header, of the
    form `host[:port]`, naming an allowed host.

    Health probes are exempt from the allow-list: a kubelet or a container health check calls
    the pod by its IP (`Host: 10.1.2.3:8000`), and those routes build nothing from the name."""

    exempt_prefix = "/health/"

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        hosts = list(allowed_hosts)
        self.allow_any = "*" in hosts
        self.exact = {h.lower() for h in hosts if not h.startswith("*.")}
        self.suffixes = tuple(h[1:].lower() for h in hosts if h.startswith("*."))

    def allowed(self, scope: Scope) -> bool:
        name = host_name(scope)
        if name is None:
            return False
        if self.allow_any or scope["path"].startswith(self.exempt_prefix):
            return True
        return name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.allowed(scope):
            await self.app(scope, receive, send)
            return
        response = error_response(400, "BAD_REQUEST", "Invalid host header")
        await response(scope, receive, send)


class EnvelopeCORSMiddleware(CORSMiddleware):
    """Starlette's CORS with a refused preflight answered in the error envelope."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        message = bytes(response.body).decode("utf-8", "replace") or "CORS preflight refused"
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-length", "content-type")
        }
        return error_response(response.status_code, "BAD_REQUEST", message, headers=headers)


# --------------------------------------------------------------------------- HEAD


class HeadAsGetMiddleware:
    """`HEAD` is answered on every `GET` route (RFC 9110): the app serves the `GET`, and the
    body is left out while the headers (`Content-Length` included) stay. The outer layers see
    the request as the client sent it: the method is switched only for the inner app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        scope["method"] = "GET"
        try:
            await self.app(scope, receive, send_without_body)
        finally:
            scope["method"] = "HEAD"


# --------------------------------------------------------------------------- body limit


class BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` while a body streams in. An HTTPException so that FastAPI's body
    parsing re-raises it (it turns other exceptions into a 400)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Request body is too large")


class BodyTimeout(StarletteHTTPException):
    """A body that trickles in slower than the read timeout (a slow-body attack)."""

    def __init__(self) -> None:
        super().__init__(status_code=408, detail="Request body was not received in time")


class BodySizeLimitMiddleware:
    """Refuses bodies over `max_bytes`: at once from `Content-Length`, and while streaming
    for chunked bodies that declare no length. A body must also arrive within
    `timeout_seconds` (uvicorn has no body timeout of its own)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_envelope(
                    scope, receive, send, 400, "BAD_REQUEST", "Invalid Content-Length header"
                )
                return
            if int(declared) > self.max_bytes:
                await _send_envelope(
                    scope,
                    receive,
                    send,
                    413,
                    "PAYLOAD_TOO_LARGE",
                    "Request body is too large",
                    details={"max_bytes": self.max_bytes},
                )
                return
        received = 0
        limit = self.max_bytes
        deadline: float | None = None
        timeout = self.timeout_seconds

        async def limited_receive() -> Message:
            nonlocal received, deadline
            if deadline is None:
                deadline = time.monotonic() + timeout
            try:
                async with asyncio.timeout_at(_loop_time(deadline)):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        await self.app(scope, limited_receive, send)


def _loop_time(monotonic_deadline: float) -> float:
    """A time.monotonic() deadline on the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())


async def _send_envelope(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
) -> None:
    response = JSONResponse(
        error_payload(code, message, details), status_code=status, headers={"Connection": "close"}
    )
    await response(scope, receive, send)
