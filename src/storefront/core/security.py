"""Password hashing (bcrypt, off the event loop) and access tokens (PyJWT, algorithm pinned).

Passwords are pre-hashed with HMAC-SHA256 and base64-encoded (44 ASCII bytes) before bcrypt:
bcrypt only reads 72 bytes (bcrypt 5 raises past them), and a 25-character password of "€" is
already 75. The pre-hash makes every character count and keeps bcrypt's input short.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import bcrypt
import jwt

from storefront.core.config import Settings

_T = TypeVar("_T")

_PREHASH_KEY = b"storefront/password/v1"
# bcrypt is CPU-bound and releases the GIL: one hash at a time per process, in a thread of
# its own at a lower CPU priority, so that a login storm queues instead of taking the cores
# from the event loop (which keeps serving every other request at full priority).
_HASHING_THREADS = 1
_HASHING_NICENESS = 10


def _lower_thread_priority() -> None:
    # Linux schedules threads individually: this renices only the hashing thread.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _HASHING_NICENESS)


def _prehash(password: str) -> bytes:
    digest = hmac.new(_PREHASH_KEY, password.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest)


def _bcrypt_cost(password_hash: str) -> int | None:
    # "$2b$12$<salt+hash>"
    parts = password_hash.split("$")
    if len(parts) < 4 or not parts[2].isdigit():
        return None
    return int(parts[2])


class PasswordHasher:
    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self._executor: ThreadPoolExecutor | None = None
        self._dummy_hash: bytes | None = None

    async def _run(self, function: Callable[..., _T], *args: Any) -> _T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=_HASHING_THREADS,
                thread_name_prefix="bcrypt",
                initializer=_lower_thread_priority,
            )
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        """Let the hashing thread go (the app's lifespan ends)."""
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
    session_id: uuid.UUID | None


_REQUIRED_CLAIMS = ["sub", "exp", "iat", "jti", "iss", "aud", "type"]


class AccessTokens:
    """Short-lived JWT access tokens: `sub, exp, iat, jti, iss, aud, type="access"`, plus
    `sid`, the login (refresh-token family) they belong to."""

    def __init__(self, settings: Settings) -> None:
        self.key = settings.signing_key
        self.algorithm = settings.jwt_algorithm
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.ttl_seconds = settings.access_token_ttl_seconds

    def issue(self, user_id: uuid.UUID, now: datetime, session_id: uuid.UUID | None = None) -> str:
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
        if session_id is not None:
            claims["sid"] = str(session_id)
        return jwt.encode(claims, self.key, algorithm=self.algorithm)

    def decode(self, token: str) -> AccessClaims:
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
                session_id=uuid.UUID(session) if isinstance(session, str) else None,
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
