"""Rate limits: slowapi's `Limiter`, built from settings and checked from FastAPI dependencies.

Why dependencies rather than slowapi's middleware and decorators:
- slowapi's checks are synchronous storage calls; with Redis that is network I/O on the event
  loop. Here a remote storage is hit from a worker thread.
- the key is the client IP as resolved from trusted proxies (never a spoofable header): the
  default limit is one budget per IP across every route, the named limits one per IP each;
- the login limit per e-mail needs the parsed body, which a dependency or the router has.

When the storage fails (Redis down), slowapi's in-memory fallback takes over for this process,
a warning is logged, and the storage is probed again with a back-off; no client sees the error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from fastapi import Request
from limits import RateLimitItem, parse
from slowapi import Limiter

from storefront.core.config import Settings
from storefront.core.errors import RateLimited
from storefront.core.logging import get_logger

logger = get_logger("storefront.rate_limit")

_RECHECK_AFTER_SECONDS = 5.0


def client_ip(request: Request) -> str:
    """The client IP resolved by the request-context middleware from trusted proxies."""
    resolved = request.scope.get("state", {}).get("client_ip")
    if isinstance(resolved, str):
        return resolved
    return request.client.host if request.client else "unknown"


class LocalWindows:
    """Fixed windows counted in this process's memory: the `memory://` storage.

    What `limits`' MemoryStorage does, without its expiry timer (a new thread every 10 ms
    under load, on the request path). Expired windows are swept once a minute."""

    _SWEEP_EVERY_SECONDS = 60.0

    def __init__(self) -> None:
        self._windows: dict[tuple[str, ...], tuple[float, int]] = {}
        self._next_sweep = time.monotonic() + self._SWEEP_EVERY_SECONDS

    def hit(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> float | None:
        """Count one hit; the seconds to wait when over the limit, else None."""
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        key = (item.key_for(), *identifiers)
        ends_at, count = self._windows.get(key, (0.0, 0))
        if ends_at <= now:
            ends_at, count = now + item.get_expiry(), 0
        count += 1
        self._windows[key] = (ends_at, count)
        return None if count <= item.amount else ends_at - now

    def _sweep(self, now: float) -> None:
        self._windows = {k: v for k, v in self._windows.items() if v[0] > now}
        self._next_sweep = now + self._SWEEP_EVERY_SECONDS


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        uri = settings.rate_limit_storage_uri
        self.enabled = settings.rate_limit_enabled
        self.remote = not uri.startswith("memory://")
        self.local = LocalWindows()
        options: dict[str, Any] = {}
        if uri.startswith(("redis://", "rediss://")):
            # Fail fast when Redis is away: the fallback answers instead of hanging requests.
            options = {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}
        self.limiter = Limiter(
            key_func=client_ip,
            default_limits=[settings.rate_limit_default],
            storage_uri=uri,
            storage_options=options,
            in_memory_fallback_enabled=True,
            key_prefix="storefront",
            enabled=settings.rate_limit_enabled,
        )
        self.default = parse(settings.rate_limit_default)
        self.named: dict[str, RateLimitItem] = {
            "login": parse(settings.rate_limit_login),
            "register": parse(settings.rate_limit_register),
            "refresh": parse(settings.rate_limit_refresh),
            "password_forgot": parse(settings.rate_limit_password_forgot),
            "account_mail": parse(settings.rate_limit_account_mail),
        }
        self._next_storage_check = 0.0

    @property
    def degraded(self) -> bool:
        # slowapi's own switch: while set, `Limiter.limiter` is its in-memory fallback.
        return bool(self.limiter._storage_dead)

    def _set_degraded(self, value: bool) -> None:
        self.limiter._storage_dead = value

    def _hit(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> float | None:
        """Count one hit; the seconds to wait when over the limit, else None."""
        if self.degraded and time.monotonic() >= self._next_storage_check:
            self._next_storage_check = time.monotonic() + _RECHECK_AFTER_SECONDS
            if self.limiter._storage.check():
                self._set_degraded(False)
                logger.info("rate_limit_storage_recovered")
        try:
            strategy = self.limiter.limiter
            allowed = strategy.hit(item, "storefront", *identifiers)
            if allowed:
                return None
            reset_at = strategy.get_window_stats(item, "storefront", *identifiers).reset_time
        except Exception as exc:
            if self.degraded:
                raise  # the in-memory fallback itself failed: a real bug
            logger.warning(
                "rate_limit_storage_unavailable",
                error_type=type(exc).__name__,
                detail="falling back to per-process in-memory limits",
            )
            self._set_degraded(True)
            self._next_storage_check = time.monotonic() + _RECHECK_AFTER_SECONDS
            return self._hit(item, identifiers)
        return max(1.0, reset_at - time.time())

    async def hit(self, item: RateLimitItem, *identifiers: str) -> None:
        """Count a hit against `item` for these identifiers; 429 when over the limit."""
        if not self.enabled:
            return
        if self.remote:
            wait = await anyio.to_thread.run_sync(self._hit, item, identifiers)
        else:
            wait = self.local.hit(item, identifiers)
        if wait is not None:
            raise RateLimited(retry_after=math.ceil(wait))


def _rate_limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


async def default_rate_limit(request: Request) -> None:
    """The default limit: one budget per client IP, shared by every API route."""
    limits = _rate_limits(request)
    await limits.hit(limits.default, "default", client_ip(request))


def limit_per_ip(name: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency enforcing the named limit (`login`, `register`, ...) per client IP."""

    async def enforce(request: Request) -> None:
        limits = _rate_limits(request)
        await limits.hit(limits.named[name], name, "ip", client_ip(request))

    enforce.__name__ = f"rate_limit_{name}_per_ip"
    return enforce


async def limit_per_key(request: Request, name: str, key: str) -> None:
    """Enforce the named limit for another key than the IP (e.g. the e-mail of a login)."""
    limits = _rate_limits(request)
    await limits.hit(limits.named[name], name, "key", key)


async def limit_password_check(request: Request, account: str) -> None:
    """Every check of a password (a login, or a `current_password`) counts in the login
    budgets: per client IP and per account (its normalised e-mail address)."""
    limits = _rate_limits(request)
    item = limits.named["login"]
    await limits.hit(item, "login", "ip", client_ip(request))
    await limits.hit(item, "login", "key", account)
