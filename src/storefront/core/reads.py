"""The fast read path: every hot read is a statement compiled once, run on a pooled connection
outside any transaction, its rows returned as plain dicts for the response models.

SQLAlchemy stays the owner of the engine, the pool, the schema, the migrations and every write;
this module only borrows a connection from its pool, for one statement at a time.

- PostgreSQL (asyncpg): the Core statement is compiled once to SQL text and run with the
  driver's own `fetch`, a prepared statement that asyncpg caches per connection. SQLAlchemy's
  execute path (the execution context, result processing, the ORM's identity map) costs about
  three times the query itself on a primary-key read; this path costs the checkout and the
  query. No transaction is begun, so no `BEGIN`/`COMMIT`/`ROLLBACK` is sent: each statement
  reads a committed snapshot, as it would inside a READ COMMITTED transaction. Whether asyncpg
  prepares named statements is the one switch `statement_cache_size` of the engine's
  `connect_args` (see `core.database.asyncpg_connect_args`): 0 behind a transaction-mode
  PgBouncer.
- Any other database (SQLite), or PostgreSQL with traces on (`native=False`: the tracing
  instrumentation hooks SQLAlchemy's execute path, not the driver): the same statement runs
  through SQLAlchemy Core on a connection (its compiled cache and type processing), and gives
  the same rows.

Repositories own the statements (`ReadQuery`) and shape the rows; services and routers only see
dicts, whichever path produced them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import await_only, greenlet_spawn

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class NativeStatement:
    """A statement as the driver takes it: SQL text, the order of its parameters, and the
    values of those that the statement itself fixes (`stock > 0`)."""

    sql: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        fixed = self.fixed
        return [params[name] if name not in fixed else fixed[name] for name in self.names]


class ReadQuery:
    """A read statement, compiled once per dialect (declare it at module level)."""

    __slots__ = ("_native", "statement")

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._native: dict[str, NativeStatement] = {}

    def native(self, dialect: Dialect) -> NativeStatement:
        compiled = self._native.get(dialect.name)
        if compiled is None:
            sql = self.statement.compile(dialect=dialect)
            fixed = {name: bind.value for name, bind in sql.binds.items() if not bind.required}
            compiled = NativeStatement(sql.string, tuple(sql.positiontup or ()), fixed)
            self._native[dialect.name] = compiled
        return compiled


class Reader:
    """Runs `ReadQuery`s: one pooled connection per statement, held only while it runs."""

    def __init__(self, engine: AsyncEngine, *, native: bool = True) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.native = native and engine.dialect.driver == "asyncpg"

    @property
    def dialect_name(self) -> str:
        return self.dialect.name

    async def all(self, query: ReadQuery, **params: Any) -> list[Row]:
        if self.native:
            records = await self._native_call(query, params, many=True)
            return [dict(record) for record in records]
        async with self.engine.connect() as connection:
            result = await connection.execute(query.statement, params)
            return [dict(row) for row in result.mappings()]

    async def first(self, query: ReadQuery, **params: Any) -> Row | None:
        if self.native:
            record = await self._native_call(query, params, many=False)
            return None if record is None else dict(record)
        async with self.engine.connect() as connection:
            result = await connection.execute(query.statement, params)
            row = result.mappings().first()
            return None if row is None else dict(row)

    async def _native_call(self, query: ReadQuery, params: Mapping[str, Any], *, many: bool) -> Any:
        statement = query.native(self.dialect)
        # One trip into SQLAlchemy's context for checkout, statement and checkin: a checkout
        # may connect or ping and a checkin may close (both await), and entering that context
        # costs more than the checkout itself.
        return await greenlet_spawn(self._run_native, statement, statement.arguments(params), many)

    def _run_native(self, statement: NativeStatement, arguments: list[Any], many: bool) -> Any:
        pooled = self.engine.sync_engine.raw_connection()
        try:
            driver = pooled.driver_connection
            assert driver is not None  # noqa: S101 - a checked-out connection has one
            fetch = driver.fetch if many else driver.fetchrow
            result = await_only(fetch(statement.sql, *arguments))
        except Exception as error:
            # The connection goes back to the pool (or is invalidated) in there.
            raise self._translated(pooled, error, statement, arguments) from error
        except BaseException:
            # Cancelled mid-statement: the connection's protocol state is unknown: dropped.
            pooled.invalidate()
            raise
        pooled.close()
        return result

    def _translated(
        self,
        pooled: PoolProxiedConnection,
        error: Exception,
        statement: NativeStatement,
        arguments: Sequence[Any],
    ) -> BaseException:
        """The error as SQLAlchemy's execute path would have raised it (so that the handlers
        answer 503 for an outage and 422 for a refused value), after invalidating a
        connection that died, and with it the pool's older ones, as SQLAlchemy does."""
        dbapi = self.dialect.loaded_dbapi
        adapted: Any = pooled.dbapi_connection
        dbapi_error: Any = error
        try:
            # The driver adapter's own translation (asyncpg error -> DB-API error class).
            adapted._handle_exception_no_connection(dbapi, error)
        except Exception as translated:
            dbapi_error = translated
        disconnected = isinstance(error, OSError) or self.dialect.is_disconnect(
            dbapi_error, adapted, None
        )
        if disconnected:
            # Invalidates and checks in this connection, and marks older ones for recycling.
            self.engine.sync_engine.pool._invalidate(pooled, error)
        else:
            pooled.close()
        wrapped: BaseException = sa_exc.DBAPIError.instance(
            statement.sql,
            list(arguments),
            dbapi_error,
            dbapi.Error,
            connection_invalidated=disconnected,
            dialect=self.dialect,
        )
        return wrapped
