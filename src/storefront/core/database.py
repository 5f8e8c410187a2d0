"""Database: declarative base, engine and session factory, and the request unit of work."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NewType

from fastapi import Depends, Request
from sqlalchemy import DateTime, Dialect, MetaData, Row, Select, delete, event, tuple_
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Mapped, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from storefront.core.config import Settings
from storefront.core.errors import AppError
from storefront.core.reads import Reader

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """`timestamptz` on PostgreSQL; on SQLite, which keeps no offset, values are stored in UTC
    and read back as aware UTC datetimes, so both databases give the same Python values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a timezone-aware column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def _same_as_created_at(context: Any) -> Any:
    # A new row was created and last updated at the same instant, to the microsecond.
    return context.get_current_parameters()["created_at"]


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=_same_as_created_at, onupdate=utcnow)


# The unit of work says in its type whether it may write (as Polar does): a function that
# writes takes a `WriteSession`; one that only reads takes a `ReadSession`, which a
# `WriteSession` also is. A route declares which it needs, so a GET that writes is a type
# error, not a silent autocommit.
ReadSession = NewType("ReadSession", AsyncSession)
WriteSession = NewType("WriteSession", ReadSession)


async def delete_batch(
    session: WriteSession,
    model: type[Base],
    key: tuple[InstrumentedAttribute[Any], ...],
    batch: Select[*tuple[Any, ...]],
) -> list[Row[Any]]:
    """Delete the rows of `model` whose `key` is in `batch`, a SELECT of that key (for the
    purges: oldest first, limited, `FOR UPDATE SKIP LOCKED`, so a batch never waits for a row
    another transaction holds). The keys of the rows deleted."""
    match = key[0].in_(batch) if len(key) == 1 else tuple_(*key).in_(batch)
    deleted = await session.execute(
        delete(model).where(match).returning(*key).execution_options(synchronize_session=False)
    )
    return list(deleted.all())


@dataclass(frozen=True, slots=True)
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # For safe (read-only) requests: no BEGIN/COMMIT round trips. Each statement still reads
    # a committed snapshot, as it would inside a READ COMMITTED transaction.
    read_sessionmaker: async_sessionmaker[AsyncSession]
    # The fast read path of the hot reads (core.reads): no session, no transaction.
    reader: Reader

    async def dispose(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[WriteSession]:
        """A unit of work outside a request (a command, a batch of housekeeping): committed
        at the end, rolled back on any error."""
        async with self.sessionmaker() as session:
            try:
                yield WriteSession(ReadSession(session))
                await session.commit()
            except BaseException:
                await session.rollback()
                raise


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def ensure_sqlite_directory(database_url: str) -> None:
    """SQLite creates the file, not its folder (the default lives under ./var/)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def create_engine_from_settings(settings: Settings) -> AsyncEngine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        ensure_sqlite_directory(settings.database_url)
        engine = create_async_engine(url, echo=settings.db_echo)
        event.listen(engine.sync_engine, "connect", _enable_sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url,
        echo=settings.db_echo,
        # Per worker process: up to pool_size + max_overflow connections. Every worker of
        # every replica counts against PostgreSQL's `max_connections` (see docs/performance.md).
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        connect_args=asyncpg_connect_args(settings),
    )
    event.listen(engine.sync_engine.pool, "checkin", _remember_checkin)
    event.listen(engine.sync_engine.pool, "checkout", _ping_if_idle)
    return engine


# asyncpg's cache of named prepared statements, per connection. The fast read path
# (core.reads) and SQLAlchemy's own statements both prepare through asyncpg; this size is the
# one switch for both: 0 means unnamed statements only, as a transaction-mode PgBouncer needs.
PREPARED_STATEMENT_CACHE_SIZE = 100


def prepared_statements_enabled(settings: Settings) -> bool:
    """Whether asyncpg may keep named prepared statements on its connections. Behind PgBouncer
    in transaction mode (`DB_TRANSACTION_POOLER`), each transaction (and each statement outside
    one) may run on another server connection, where a named statement does not exist: with
    its caches off, asyncpg prepares unnamed statements and parses them again in the same round
    trip as each execution (docs/operations.md)."""
    return not settings.db_transaction_pooler


def asyncpg_connect_args(settings: Settings) -> dict[str, Any]:
    cache_size = PREPARED_STATEMENT_CACHE_SIZE if prepared_statements_enabled(settings) else 0
    return {
        # asyncpg waits 60 s for a dead server by default: fail fast into a 503 instead.
        "timeout": settings.db_connect_timeout,
        "command_timeout": max(settings.db_pool_timeout * 6, 30),
        "server_settings": {"application_name": "storefront"},
        "statement_cache_size": cache_size,
        # SQLAlchemy's adapter keeps a cache of its own (passed through to it, not to asyncpg).
        "prepared_statement_cache_size": cache_size,
    }


# A connection that sat idle in the pool this long is pinged before use; one in steady use is
# not. SQLAlchemy's `pool_pre_ping` pings on every checkout, and asyncpg's ping is three round
# trips (BEGIN, `;`, ROLLBACK): more than the query of a typical read. Under load connections
# are never idle, and after an outage (idle connections, all dead) the ping finds each dead one
# and the pool replaces it, so the next request works. A connection that dies while in use
# fails its statement (503) and SQLAlchemy invalidates the pool's older connections with it.
IDLE_PING_AFTER_SECONDS = 1.0


def _remember_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < IDLE_PING_AFTER_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:
        # The pool discards this connection and checks out (or opens) another.
        raise DisconnectionError("idle connection failed its ping") from exc


def create_database(settings: Settings) -> Database:
    engine = create_engine_from_settings(settings)
    reader = engine
    if engine.dialect.name == "postgresql":
        reader = engine.execution_options(isolation_level="AUTOCOMMIT")
    return Database(
        engine=engine,
        sessionmaker=async_sessionmaker(engine, expire_on_commit=False, autoflush=False),
        read_sessionmaker=async_sessionmaker(reader, expire_on_commit=False, autoflush=False),
        # With traces on, reads go through SQLAlchemy's execute path, which the tracing
        # instrumentation sees (a span per statement); the driver's own path has no hook.
        reader=Reader(engine, native=not settings.otel_enabled),
    )


async def get_read_session(request: Request) -> AsyncIterator[ReadSession]:
    """A session for reading: no transaction on PostgreSQL (each statement reads a committed
    snapshot, as it would inside a READ COMMITTED transaction), nothing to commit."""
    database: Database = request.app.state.database
    async with database.read_sessionmaker() as session:
        yield ReadSession(session)


async def get_write_session(request: Request) -> AsyncIterator[WriteSession]:
    """One request, one unit of work: commit once at the end, roll back on any error."""
    database: Database = request.app.state.database
    async with database.sessionmaker() as session:
        try:
            yield WriteSession(ReadSession(session))
            await session.commit()
        except AppError as exc:
            # A refusal that records something (a reused refresh token revokes its login)
            # keeps its writes; every other error undoes the request's.
            await (session.commit() if exc.keeps_writes else session.rollback())
            raise
        except BaseException:
            await session.rollback()
            raise


async def release_connection(session: WriteSession) -> None:
    """End the request's transaction so far and give its connection back to the pool, before
    a slow step that needs no database (a password hash): a queue of such steps must never
    hold the pool. The next statement opens a new transaction. Only reads may precede it."""
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("release_connection() would commit pending writes")
    await session.commit()


ReadSessionDep = Annotated[ReadSession, Depends(get_read_session)]
# scope="function": the commit happens before the response is sent, so a failed commit is
# an error response instead of a success the database never saw.
WriteSessionDep = Annotated[WriteSession, Depends(get_write_session, scope="function")]


def reader_of(request: Request) -> Reader:
    """The fast read path (core.reads), for the hot reads of repositories."""
    database: Database = request.app.state.database
    return database.reader


# Every dependency on the hot path is `async def`: FastAPI runs a plain `def` dependency in a
# worker thread, a hand-off that costs more than the whole dependency.
async def get_reader(request: Request) -> Reader:
    return reader_of(request)


ReaderDep = Annotated[Reader, Depends(get_reader)]
