"""Password hashing (bcrypt, off the event loop) and access tokens (PyJWT, algorithm pinned).

Passwords are pre-hashed with HMAC-SHA256 and base64-encoded (44 ASCII bytes) before bcrypt:
bcrypt only reads 72 bytes (bcrypt 5 raises past them), and a 25-character password of "€" is
already 75. The pre-hash makes every character count and keeps bcrypt's input short.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import hashlib
import hmac
import math
import os
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import bcrypt
import jwt

from storefront.core.config import Settings
from storefront.core.errors import ServiceUnavailable

_T = TypeVar("_T")

_PREHASH_KEY = b"storefront/password/v1"


def _prehash(password: str) -> bytes:
    digest = hmac.new(_PREHASH_KEY, password.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest)


def _bcrypt_cost(password_hash: str) -> int | None:
    # "$2b$12$<salt+hash>"
    parts = password_hash.split("$")
    if len(parts) < 4 or not parts[2].isdigit():
        return None
    return int(parts[2])


class HashingBusy(ServiceUnavailable):
    """Too many password checks are already waiting: refused at once, never queued for ever."""

    message = "Too many sign-in attempts are being checked right now; retry shortly"


class HashingSlots:
    """At most `count` bcrypt computations at once across every process that shares
    `directory`: each computation holds an exclusive `flock` on one of `count` slot files.

    bcrypt is CPU-bound and releases the GIL, so its bound belongs to the machine, not to one
    worker process: with one slot per core, a login storm runs as many hashes as there are
    cores however many workers queue them, and every worker's event loop keeps its fair share
    of the CPU beside them. The kernel drops a lock when its holder dies."""

    def __init__(self, directory: Path, count: int) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.paths = [directory / f"slot-{index}.lock" for index in range(count)]

    def acquire(self, preferred: int) -> int:
        """Blocks (in a hashing thread) until a slot is free; its file descriptor."""
        for path in self.paths:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            return descriptor
        # Every slot is taken: queue on one of them (each thread of a process on its own).
        descriptor = os.open(self.paths[preferred % len(self.paths)], os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        return descriptor

    @staticmethod
    def release(descriptor: int) -> None:
        os.close(descriptor)  # closing the file drops its lock


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota (a
    container's CPU limit; `os.cpu_count()` would report the whole node)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text(encoding="ascii").split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit to read: the affinity is the answer
    return max(1, cpus)


def default_hashing_lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"storefront-hashing-{os.getuid()}"


class PasswordHasher:
    """bcrypt off the event loop, bounded twice: `concurrency` hashes at once on the machine
    (`HashingSlots`), and at most `queue` more checks waiting in this process. A check beyond
    that is refused at once (`HashingBusy`, a 503 with Retry-After) instead of queueing for
    ever. Callers hold no database connection while they wait (see `release_connection`)."""

    def __init__(
        self,
        rounds: int,
        *,
        concurrency: int | None = None,
        queue: int | None = None,
        lock_dir: Path | None = None,
    ) -> None:
        self.rounds = rounds
        self.concurrency = concurrency or available_cpus()
        self.max_waiting = 4 * self.concurrency if queue is None else queue
        self.lock_dir = lock_dir or default_hashing_lock_dir()
        self._slots: HashingSlots | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight = 0  # submitted and not finished, in this process
        self._in_flight_lock = threading.Lock()
        self._seconds_per_hash = 0.25  # a running estimate, for Retry-After
        self._dummy_hash: bytes | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordHasher:
        return cls(
            settings.bcrypt_rounds,
            concurrency=settings.password_hashing_concurrency,
            queue=settings.password_hashing_queue,
            lock_dir=settings.password_hashing_lock_dir,
        )

    def _pool(self) -> tuple[ThreadPoolExecutor, HashingSlots]:
        if self._executor is None or self._slots is None:
            self._slots = HashingSlots(self.lock_dir, self.concurrency)
            self._executor = ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix="bcrypt"
            )
        return self._executor, self._slots

    async def _run(self, function: Callable[..., _T], *args: Any) -> _T:
        executor, slots = self._pool()
        with self._in_flight_lock:
            if self._in_flight >= self.concurrency + self.max_waiting:
                raise HashingBusy(headers={"Retry-After": str(self._retry_after())})
            self._in_flight += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, self._in_slot, slots, function, args)

    def _in_slot(self, slots: HashingSlots, function: Callable[..., _T], args: Any) -> _T:
        try:
            descriptor = slots.acquire(threading.get_ident())
            try:
                started = time.perf_counter()
                result = function(*args)
                elapsed = time.perf_counter() - started
                self._seconds_per_hash = 0.8 * self._seconds_per_hash + 0.2 * elapsed
                return result
            finally:
                slots.release(descriptor)
        finally:
            # Counted down here, not in the awaiting coroutine: a cancelled request does not
            # stop its hash, which still occupies the pool until it ends.
            with self._in_flight_lock:
                self._in_flight -= 1

    def _retry_after(self) -> int:
        backlog = (self.concurrency + self.max_waiting) / self.concurrency
        return max(1, math.ceil(backlog * self._seconds_per_hash))

    def close(self) -> None:
        """Let the hashing threads go (the app's lifespan ends)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _hash_sync(self, password: str) -> str:
        return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(self.rounds)).decode("ascii")

    @staticmethod
    def _verify_sync(password: str, password_hash: bytes) -> bool:
        try:
            return bcrypt.checkpw(_prehash(password), password_hash)
        except ValueError:  # not a bcrypt hash
            return False

    async def hash(self, password: str) -> str:
        return await self._run(self._hash_sync, password)

    async def verify(self, password: str, password_hash: str) -> bool:
        return await self._run(self._verify_sync, password, password_hash.encode("ascii"))

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of a real check, for logins with an unknown e-mail."""
        if self._dummy_hash is None:
            dummy = await self.hash(secrets.token_urlsafe(16))
            self._dummy_hash = dummy.encode("ascii")
        await self._run(self._verify_sync, password, self._dummy_hash)

    def needs_rehash(self, password_hash: str) -> bool:
        return _bcrypt_cost(password_hash) != self.rounds


# --------------------------------------------------------------------------- tokens


class InvalidAccessToken(Exception):
    """The bearer token is not a valid, current access token of ours."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: uuid.UUID
    issued_at: float
    expires_at: int
    token_id: str
    login_id: uuid.UUID | None


_REQUIRED_CLAIMS = ["sub", "exp", "iat", "jti", "iss", "aud", "type"]


VERIFIED_TOKENS_KEPT = 4096


class AccessTokens:
    """Short-lived JWT access tokens: `sub, exp, iat, jti, iss, aud, type="access"`, plus
    `sid`, the login (refresh-token family) they belong to."""

    def __init__(self, settings: Settings) -> None:
        self.key = settings.signing_key
        self.algorithm = settings.jwt_algorithm
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.ttl_seconds = settings.access_token_ttl_seconds
        # Tokens that passed every check, by their exact text (signature included).
        self._verified: dict[str, AccessClaims] = {}

    def issue(self, user_id: uuid.UUID, now: datetime, login_id: uuid.UUID | None = None) -> str:
        issued_at = now.timestamp()
        claims: dict[str, object] = {
            "sub": str(user_id),
            # Sub-second `iat`, so that "tokens valid after" can tell a token issued just
            # before a logout-all from one issued just after it.
            "iat": round(issued_at, 6),
            "exp": int(issued_at) + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
            "iss": self.issuer,
            "aud": self.audience,
            "type": "access",
        }
        if login_id is not None:
            claims["sid"] = str(login_id)
        return jwt.encode(claims, self.key, algorithm=self.algorithm)

    def decode(self, token: str) -> AccessClaims:
        """The claims of a valid access token; InvalidAccessToken otherwise.

        A client sends the same token with every request for its lifetime, and checking its
        signature and claims costs more than the rest of a request's authentication: the
        verified claims are kept (bounded, oldest out) and only the expiry, the one check
        that time changes, is made again. Revocation is the user row's business (read on
        every request), not the token's."""
        verified = self._verified.get(token)
        if verified is not None:
            if verified.expires_at > time.time():
                return verified
            del self._verified[token]
        claims = self._decode(token)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = claims
        return claims

    def _decode(self, token: str) -> AccessClaims:
        try:
            payload = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": _REQUIRED_CLAIMS},
            )
            if payload.get("type") != "access":
                raise InvalidAccessToken("not an access token")
            session = payload.get("sid")
            return AccessClaims(
                subject=uuid.UUID(payload["sub"]),
                issued_at=float(payload["iat"]),
                expires_at=int(payload["exp"]),
                token_id=str(payload["jti"]),
                login_id=uuid.UUID(session) if isinstance(session, str) else None,
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise InvalidAccessToken(str(exc)) from exc


# --------------------------------------------------------------------------- opaque tokens


def new_opaque_token() -> str:
    """A random, URL-safe token (refresh, reset, verification): 256 bits."""
    return secrets.token_urlsafe(32)


def hash_opaque_token(token: str) -> str:
    """What is stored instead of an opaque token: its SHA-256, hex (64 chars).

    A fast hash is right here: the token is 256 random bits, nothing to brute-force."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
