"""The units the edge layer (core.edge) calls: the client-IP resolver, the trusted-host check,
CORS in the envelope, HEAD served as GET, and the body-limit errors.

Pure ASGI rather than `BaseHTTPMiddleware`: no extra task per request, streaming untouched.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefront.core.errors import BadRequest, error_response

# --------------------------------------------------------------------------- client IP


class ClientAddressResolver:
    """The client IP: the peer, or, when the peer is a trusted proxy, the right-most
    `X-Forwarded-For` entry that is not itself a trusted proxy."""

    def __init__(self, trusted: Iterable[str]) -> None:
        self.trust_all = False
        self._trusted: dict[str, bool] = {}
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in trusted:
            if entry == "*":
                self.trust_all = True
            else:
                self.networks.append(ipaddress.ip_network(entry, strict=False))

    _CACHE_SIZE = 4096

    def is_trusted(self, host: str) -> bool:
        if self.trust_all:
            return True
        # Every request asks about its peer: the answer is remembered (parsing an address
        # costs more than the rest of the resolution).
        known = self._trusted.get(host)
        if known is None:
            known = self._check(host)
            if len(self._trusted) >= self._CACHE_SIZE:
                self._trusted.clear()
            self._trusted[host] = known
        return known

    def _check(self, host: str) -> bool:
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
        response = error_response(BadRequest("Invalid host header"))
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
        return error_response(BadRequest(message, headers=headers))


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
