"""Idempotency-Key on `POST /orders`: a retry of a request replays its first answer instead of
placing a second order.

- The key is the client's, scoped to the user: `(user_id, key)`.
- The request is fingerprinted (SHA-256 of the canonical JSON of the validated body): the same
  key with another request is 422 `IDEMPOTENCY_KEY_MISMATCH`.
- The first answer is kept with the key, byte for byte, and replayed for 24 hours (`TTL`).
- While the first request runs, its key is in flight: a concurrent one is 409
  `IDEMPOTENCY_IN_PROGRESS` (PostgreSQL: a transaction-scoped advisory lock per key; SQLite,
  whose writers the database serialises: the key's row colliding at insert).
- The key's row is inserted with the order, in the same statement on PostgreSQL
  (`repository.insert_order`), so it exists exactly when the order was committed: a refused
  or failed request keeps no key, and its retry runs afresh.
- Expired keys are purged by `storefront purge` (a CronJob), and a small batch of them by a
  small share of the requests that store one, so that a deployment without the job stays
  bounded too, and no request pays much for it.

The queries are the orders repository's; this module holds the rules.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from storefront.core.database import WriteSession, utcnow
from storefront.orders import repository
from storefront.orders.errors import IdempotencyInProgress, IdempotencyKeyMismatch

TTL = timedelta(hours=24)
PURGE_PROBABILITY = 0.02
PURGE_IN_REQUEST = 50


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The first answer to a keyed request, as its client received it: replayed as it is."""

    status_code: int
    body: str


@dataclass(frozen=True, slots=True)
class Claim:
    """A key this request holds (on PostgreSQL, its advisory lock) and that has no answer yet."""

    user_id: uuid.UUID
    key: str
    fingerprint: str

    def record(self, answer: StoredAnswer, at: datetime) -> dict[str, Any]:
        """The key's row, to insert with what the request wrote."""
        return {
            "user_id": self.user_id,
            "key": self.key,
            "fingerprint": self.fingerprint,
            "status_code": answer.status_code,
            "response_body": answer.body,
            "created_at": at,
        }


def fingerprint(request: BaseModel) -> str:
    """SHA-256 of the canonical JSON of the validated request: the same request however its
    JSON was written (key order, spacing, `2.0` for `2`), and the same across versions of this
    service as long as the request model is, so that a retry may reach any replica."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def lock_id(user_id: uuid.UUID, key: str) -> int:
    """A signed 64-bit number for `pg_try_advisory_xact_lock`, one per (user, key)."""
    digest = hashlib.sha256(f"storefront-order:{user_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def claim(
    session: WriteSession, user_id: uuid.UUID, key: str | None, request: BaseModel
) -> Claim | StoredAnswer | None:
    """Take the key for this request (until its transaction ends): a `Claim` to record with
    the request's writes, or the answer to replay if the key already has one; None without
    a key.

    Raises `IdempotencyInProgress` while another request holds the key, and
    `IdempotencyKeyMismatch` if the key was used with another request. A key past its `TTL`
    is deleted here and counts as new."""
    if key is None:
        return None
    taken = Claim(user_id, key, fingerprint(request))
    locked, stored = await repository.lock_and_find_idempotency_record(
        session, lock_id(user_id, key), user_id, key
    )
    if not locked:
        raise IdempotencyInProgress
    if stored is not None and stored.created_at < utcnow() - TTL:
        await repository.delete_idempotency_record(session, user_id, key)
        stored = None
    if stored is None:
        return taken
    if stored.fingerprint != taken.fingerprint:
        raise IdempotencyKeyMismatch
    return StoredAnswer(stored.status_code, stored.response_body)


@contextmanager
def collision_is_in_flight() -> Iterator[None]:
    """Around the insert of a key's row: where no advisory lock exists (SQLite), a concurrent
    request with the same key may have committed first; the row then collides with its own,
    and this request is the in-flight 409 (its transaction, stock included, is rolled back;
    the client's retry replays)."""
    try:
        yield
    except IntegrityError as error:
        if "idempotency_keys" in str(error.orig):
            raise IdempotencyInProgress from None
        raise


async def purge_sometimes(session: WriteSession) -> None:
    """In a small share of the requests that store a key, purge a small batch of expired ones
    (beside the `storefront purge` job)."""
    if random.random() < PURGE_PROBABILITY:  # noqa: S311 - a sample, not a secret
        await purge_expired(session, limit=PURGE_IN_REQUEST)


async def purge_expired(session: WriteSession, *, limit: int) -> int:
    """Delete up to `limit` keys past their `TTL`; the number deleted."""
    return await repository.purge_idempotency_records(session, utcnow() - TTL, limit=limit)
