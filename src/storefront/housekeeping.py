"""`storefront purge`: delete what no request can use any more.

Like main.py, this module knows every domain; each domain owns the query that purges its
tables (auth: refresh and one-time tokens; orders: idempotency records). What may go:

- refresh tokens: whole sessions (token families) none of whose tokens has been in force
  for the grace period below (all expired or revoked). A session still in force keeps every
  token, so that a rotated one presented again is still recognised as reused;
- one-time tokens used or expired for the grace period;
- idempotency records older than their 24 hours.

Every batch is its own short transaction that deletes at most `batch_size` rows, takes them
with `FOR UPDATE SKIP LOCKED` (on PostgreSQL), and waits at most `LOCK_TIMEOUT` for any other
lock: several replicas may purge at once, beside live traffic, and none of them or of the
requests waits on the others for long. A batch that cannot get its locks in time ends that
table's pass; what it left is taken by the next run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storefront.auth import repository as auth_repository
from storefront.core.config import Settings
from storefront.core.database import (
    Database,
    ReadSession,
    WriteSession,
    create_database,
    utcnow,
)
from storefront.core.logging import get_logger
from storefront.orders import idempotency as orders_idempotency

log = get_logger("storefront.housekeeping")

DEFAULT_BATCH_SIZE = 500
# Longer than any transaction lasts: a token that stopped being in force this long ago cannot
# be in the middle of a refresh, so "dead" is final when the purge decides it.
GRACE = timedelta(hours=1)
# Under PostgreSQL's deadlock_timeout (1 s): if a purge batch and a request ever wait for each
# other, the batch gives up first and the request goes on.
LOCK_TIMEOUT = "500ms"
# lock_not_available, deadlock_detected; SQLite's "database is locked".
_CONTENTION_SQLSTATES = frozenset({"55P03", "40P01"})

T = TypeVar("T")


@dataclass
class PurgeReport:
    refresh_tokens: int = 0
    one_time_tokens: int = 0
    idempotency_records: int = 0

    def summary(self) -> str:
        return "purged " + " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


async def purge(settings: Settings, *, batch_size: int = DEFAULT_BATCH_SIZE) -> PurgeReport:
    """Purge the database of these settings (the `storefront purge` command)."""
    database = create_database(settings)
    try:
        return await purge_database(database, batch_size=batch_size)
    finally:
        await database.dispose()


async def purge_database(database: Database, *, batch_size: int) -> PurgeReport:
    cutoff = utcnow() - GRACE
    return PurgeReport(
        refresh_tokens=await _purge_refresh_tokens(database, cutoff, batch_size),
        one_time_tokens=await _purge_one_time_tokens(database, cutoff, batch_size),
        idempotency_records=await _purge_idempotency_records(database, batch_size),
    )


async def _purge_refresh_tokens(database: Database, cutoff: datetime, batch_size: int) -> int:
    """Page through the dead families (a read), then delete their tokens in batches."""
    total, after = 0, None
    while True:
        async with database.sessionmaker() as session:
            families = await auth_repository.dead_refresh_token_families(
                ReadSession(session), cutoff=cutoff, after=after, limit=batch_size
            )
        while families:
            deleted = await _batch(
                database,
                partial(
                    auth_repository.delete_refresh_tokens_of_families,
                    family_ids=families,
                    limit=batch_size,
                ),
            )
            total += deleted or 0
            if deleted is None:  # contended: the rest waits for the next run
                return total
            if deleted < batch_size:
                break
        if len(families) < batch_size:
            return total
        after = families[-1]


async def _purge_one_time_tokens(database: Database, cutoff: datetime, batch_size: int) -> int:
    total, after = 0, None
    while True:
        deleted = await _batch(
            database,
            partial(
                auth_repository.delete_spent_one_time_tokens,
                cutoff=cutoff,
                after=after,
                limit=batch_size,
            ),
        )
        if deleted is None:
            return total
        total += len(deleted)
        if len(deleted) < batch_size:
            return total
        after = max(deleted)  # keyset: the next batch starts past this one


async def _purge_idempotency_records(database: Database, batch_size: int) -> int:
    total = 0
    while True:
        deleted = await _batch(
            database,
            partial(orders_idempotency.purge_expired, limit=batch_size),
        )
        if deleted is None:
            return total
        total += deleted
        if deleted < batch_size:
            return total


async def _batch(database: Database, work: Callable[[WriteSession], Awaitable[T]]) -> T | None:
    """`work` in one short transaction; None when it could not get its locks in time (it is
    rolled back, and its rows stay for the next run)."""
    try:
        async with database.sessionmaker() as session:
            if session.get_bind().dialect.name == "postgresql":
                await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            result = await work(WriteSession(ReadSession(session)))
            await session.commit()
            return result
    except DBAPIError as exc:
        if not _is_contention(exc):
            raise
        log.warning("purge_batch_contended", error=type(exc.orig).__name__)
        return None


def _is_contention(exc: DBAPIError) -> bool:
    original = exc.orig
    return (
        getattr(original, "sqlstate", None) in _CONTENTION_SQLSTATES
        or getattr(original, "sqlite_errorname", None) == "SQLITE_BUSY"
    )
