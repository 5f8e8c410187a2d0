"""Rate limits on `limits`' public async API, checked from FastAPI dependencies.

Every limit is a fixed window (`limits.aio.strategies.FixedWindowRateLimiter`): "10 per
minute" is 10 hits in a minute that starts at the first hit. The counts live in Redis when
`RATE_LIMIT_STORAGE_URI` is `redis://` or `rediss://` (`limits`' async Redis storage on
redis-py's asyncio client: shared by every worker and replica, no thread, no blocking call),
or in this process's memory for `memory://`.

- the key is the client IP as resolved from trusted proxies (never a spoofable header): the
  default limit is one budget per IP across every route, the named limits one per IP each;
- the login limit per e-mail needs the parsed body, which a dependency or the router has.

When Redis fails, this process counts in its own memory instead (limits per worker until
Redis is back), logs `rate_limit_storage_unavailable` once, tries Redis again every few
seconds with one request, and logs `rate_limit_storage_recovered` when it answers. No client
sees the failure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from time import monotonic  # by name: a test moves this module's clock, not the event loop's
from typing import Any

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from storefront.core.config import Settings
from storefront.core.errors import RateLimited
from storefront.core.logging import get_logger

logger = get_logger("storefront.rate_limit")

# While Redis is away, one request every this many seconds tries it again.
_RETRY_SHARED_AFTER_SECONDS = 5.0
# Fail fast when Redis is away or hung: the per-process fallback answers instead.
_REDIS_TIMEOUT_SECONDS = 0.25
# A hit is one round trip of well under a millisecond: a few connections serve thousands of
# requests a second, and a burst waits for one instead of opening one per request.
_REDIS_MAX_CONNECTIONS = 32
# The first identifier of every key; with `limits`' own "LIMITS:" prefix, the Redis keys are
# those of the slowapi-based limiter before, so a rolling deploy keeps this window's counts.
_KEY_PREFIX = "storefront"


def client_ip(request: Request) -> str:
    """The client IP resolved by the request-context middleware from trusted proxies."""
    resolved = request.scope.get("state", {}).get("client_ip")
    if isinstance(resolved, str):
        return resolved
    return request.client.host if request.client else "unknown"


class ProcessMemoryStorage(Storage):
    """Fixed-window counters in this process's memory, behind `limits`' async storage API.

    `limits`' own async `MemoryStorage` starts an expiry task on every hit that scans every
    key (about 640 µs a hit with 10,000 clients in the window), and its sync one a thread every
    10 ms that does the same under the GIL: see `docs/decisions.md`. Here a hit is one dict
    look-up, and expired windows are dropped by one sweep a minute."""

    _SWEEP_EVERY_SECONDS = 60.0

    def __init__(self) -> None:
        super().__init__()
        # key -> (end of the window on the monotonic clock, hits in it)
        self._windows: dict[str, tuple[float, int]] = {}
        self._next_sweep = monotonic() + self._SWEEP_EVERY_SECONDS

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ()  # nothing here is I/O: whatever raises is a bug, never wrapped

    def _current(self, key: str, now: float) -> tuple[float, int]:
        window = self._windows.get(key)
        return window if window is not None and window[0] > now else (now, 0)

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        ends_at, count = self._current(key, now)
        if count == 0:
            ends_at = now + expiry
        self._windows[key] = (ends_at, count + amount)
        return count + amount

    async def get(self, key: str) -> int:
        return self._current(key, monotonic())[1]

    async def get_expiry(self, key: str) -> float:
        """When the window ends, in seconds since the epoch (as `limits` expects)."""
        now = monotonic()
        return time.time() + (self._current(key, now)[0] - now)

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        cleared = len(self._windows)
        self._windows.clear()
        return cleared

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)

    def _sweep(self, now: float) -> None:
        self._windows = {key: w for key, w in self._windows.items() if w[0] > now}
        self._next_sweep = now + self._SWEEP_EVERY_SECONDS


def _redis_storage(uri: str) -> tuple[Storage, Callable[[], Awaitable[None]]]:
    """`limits`' async Redis storage for a `redis://` or `rediss://` URI, on redis-py's asyncio
    client with a bounded pool, short timeouts and one immediate retry (a pooled connection
    that Redis closed is retried at once instead of counting as an outage)."""
    # Imported only for a Redis storage: importing redis-py takes about 0.4 s and loads the
    # OpenTelemetry SDK for its own metrics, which a `memory://` process never needs.
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = redis.asyncio.BlockingConnectionPool.from_url(
        uri,
        max_connections=_REDIS_MAX_CONNECTIONS,
        timeout=_REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
        socket_timeout=_REDIS_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), retries=1),
    )
    # `limits` types its options as scalars; the pool is one it hands to redis-py as is.
    options: dict[str, Any] = {"connection_pool": pool}
    return RedisStorage(f"async+{uri}", implementation="redispy", **options), pool.aclose


async def _nothing_to_close() -> None:
    return None


def _shared_storage(uri: str) -> tuple[Storage | None, Callable[[], Awaitable[None]]]:
    """The storage shared by every process for the configured URI (None for `memory://`), and
    how to give its connections back."""
    scheme = uri.partition("://")[0]
    if scheme == "memory":
        return None, _nothing_to_close
    if scheme in ("redis", "rediss"):
        return _redis_storage(uri)
    # The scheme only: the rest of the URI may hold a password.
    raise ValueError(
        f"STOREFRONT_RATE_LIMIT_STORAGE_URI: unsupported storage {scheme!r}"
        " (memory:// or redis:// / rediss://)"
    )


async def _seconds_to_wait(
    limiter: FixedWindowRateLimiter, item: RateLimitItem, identifiers: tuple[str, ...]
) -> int | None:
    """Count one hit; the whole seconds to wait (at least 1) when over the limit, else None."""
    if await limiter.hit(item, _KEY_PREFIX, *identifiers):
        return None
    stats = await limiter.get_window_stats(item, _KEY_PREFIX, *identifiers)
    return max(1, math.ceil(stats.reset_time - time.time()))


class RateLimits:
    """The configured limits and where they are counted; `hit` enforces one."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.default = parse(settings.rate_limit_default)
        self.named: dict[str, RateLimitItem] = {
            "login": parse(settings.rate_limit_login),
            "register": parse(settings.rate_limit_register),
            "refresh": parse(settings.rate_limit_refresh),
            "password_forgot": parse(settings.rate_limit_password_forgot),
            "account_mail": parse(settings.rate_limit_account_mail),
        }
        # `memory://`, and the fallback of a shared storage while it is away.
        self._local = FixedWindowRateLimiter(ProcessMemoryStorage())
        shared, self._close_shared = _shared_storage(settings.rate_limit_storage_uri)
        self._shared = FixedWindowRateLimiter(shared) if shared is not None else None
        self._degraded = False  # the shared storage failed; counting here until it answers
        self._retry_shared_at = 0.0

    async def aclose(self) -> None:
        """Give the shared storage's connections back (the app's lifespan ends)."""
        await self._close_shared()

    async def hit(self, item: RateLimitItem, *identifiers: str) -> None:
        """Count a hit against `item` for these identifiers; 429 when over the limit."""
        if not self.enabled:
            return
        wait = await self._count(item, identifiers)
        if wait is not None:
            raise RateLimited(retry_after=wait)

    async def _count(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> int | None:
        shared = self._shared_to_try()
        if shared is None:
            return await _seconds_to_wait(self._local, item, identifiers)
        probing = self._degraded
        try:
            wait = await _seconds_to_wait(shared, item, identifiers)
        except Exception as exc:  # whatever the storage raises, no client sees it
            self._shared_failed(exc)
            return await _seconds_to_wait(self._local, item, identifiers)
        if probing:
            # Only the probe flips back: a request sent before the outage and answered
            # after it proves nothing.
            self._degraded = False
            logger.info("rate_limit_storage_recovered")
        return wait

    def _shared_to_try(self) -> FixedWindowRateLimiter | None:
        """The shared limiter when this hit should go there; None to count in memory."""
        if self._shared is None or not self._degraded:
            return self._shared
        now = monotonic()
        if now < self._retry_shared_at:
            return None
        # This request probes; the others keep counting here until it has answered.
        self._retry_shared_at = now + _RETRY_SHARED_AFTER_SECONDS
        return self._shared

    def _shared_failed(self, exc: Exception) -> None:
        self._retry_shared_at = monotonic() + _RETRY_SHARED_AFTER_SECONDS
        if self._degraded:
            return  # logged when the outage began
        self._degraded = True
        logger.warning(
            "rate_limit_storage_unavailable",
            error_type=type(exc).__name__,
            detail="falling back to per-process in-memory limits",
        )


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
