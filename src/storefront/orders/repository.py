"""Every query of the orders domain. Repositories flush, they never commit."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import selectinload

from storefront.core.database import ReadSession, WriteSession, delete_batch
from storefront.core.pagination import Keyset, PageParams, keyset_params
from storefront.core.reads import Reader, ReadQuery, Row
from storefront.orders.models import IdempotencyRecord, Order, OrderHistory, OrderLine

_WITH_DETAILS = (selectinload(Order.lines), selectinload(Order.history))


# --------------------------------------------------------------------------- fast reads
#
# An order with its lines and history, as rows for `OrderRead`. On PostgreSQL one statement
# reads a page of orders (or one order) with both, aggregated per order as arrays of rows
# (`array_agg(row(...) ORDER BY ...)`, decoded by asyncpg into tuples); elsewhere three
# statements read the orders, then the lines and the history of all of them.

_ORDERS = Order.__table__.c
_LINES = OrderLine.__table__.c
_HISTORY = OrderHistory.__table__.c
_ORDER_COLUMNS = [
    _ORDERS[name]
    for name in ("id", "user_id", "status", "currency", "total_cents", "created_at", "updated_at")
]
LINE_KEYS = ("product_id", "sku", "name", "unit_price_cents", "quantity", "line_total_cents")
HISTORY_KEYS = ("status", "at", "actor_id")

_CONDITIONS: dict[str, ColumnElement[bool]] = {
    "id": _ORDERS.id == bindparam("order_id"),
    "user": _ORDERS.user_id == bindparam("user_id"),
    "status": _ORDERS.status == bindparam("status"),
}
_KEYSET = Keyset(_ORDERS.created_at, _ORDERS.id)


def _aggregated(columns: Sequence[Any], order_key: Any, *order_by: Any) -> Any:
    """`(SELECT array_agg(row(columns) ORDER BY order_by) ...)` for the order of the row."""
    rows = func.array_agg(aggregate_order_by(func.row(*columns), *order_by))
    return select(rows).where(order_key == _ORDERS.id).scalar_subquery()


@cache
def _orders_query(
    conditions: tuple[str, ...], aggregated: bool, paged: bool, after_cursor: bool
) -> ReadQuery:
    columns: list[Any] = list(_ORDER_COLUMNS)
    if aggregated:
        line_columns = [_LINES[key] for key in LINE_KEYS]
        history_columns = [_HISTORY[key] for key in HISTORY_KEYS]
        columns += [
            _aggregated(line_columns, _LINES.order_id, _LINES.position).label("lines"),
            _aggregated(history_columns, _HISTORY.order_id, _HISTORY.at, _HISTORY.id).label(
                "history"
            ),
        ]
    query = select(*columns).where(*(_CONDITIONS[name] for name in conditions))
    if paged:
        query = _KEYSET.page(query, after_cursor=after_cursor)
    return ReadQuery(query)


_LINES_OF = ReadQuery(
    select(_LINES.order_id, *(_LINES[key] for key in LINE_KEYS))
    .where(_LINES.order_id.in_(bindparam("order_ids", expanding=True)))
    .order_by(_LINES.order_id, _LINES.position)
)
_HISTORY_OF = ReadQuery(
    select(_HISTORY.order_id, *(_HISTORY[key] for key in HISTORY_KEYS))
    .where(_HISTORY.order_id.in_(bindparam("order_ids", expanding=True)))
    .order_by(_HISTORY.order_id, _HISTORY.at, _HISTORY.id)
)


async def _read(
    reader: Reader, conditions: Mapping[str, Mapping[str, Any]], page: PageParams | None
) -> list[Row]:
    """The orders matching `conditions` (`_CONDITIONS` keys mapped to their parameters), all
    of them or the page `page`, with their lines and history."""
    aggregated = reader.dialect_name == "postgresql"
    params: dict[str, Any] = {} if page is None else keyset_params(page.limit, page.cursor)
    for values in conditions.values():
        params.update(values)
    after_cursor = page is not None and page.cursor is not None
    query = _orders_query(tuple(conditions), aggregated, page is not None, after_cursor)
    rows = await reader.all(query, **params)
    if aggregated:
        for row in rows:
            row["lines"] = [dict(zip(LINE_KEYS, line, strict=True)) for line in row["lines"] or ()]
            row["history"] = [
                dict(zip(HISTORY_KEYS, entry, strict=True)) for entry in row["history"] or ()
            ]
    elif rows:
        await _attach_details(reader, rows)
    return rows


async def _attach_details(reader: Reader, rows: list[Row]) -> None:
    ids = [row["id"] for row in rows]
    lines: defaultdict[Any, list[Row]] = defaultdict(list)
    history: defaultdict[Any, list[Row]] = defaultdict(list)
    for line in await reader.all(_LINES_OF, order_ids=ids):
        lines[line.pop("order_id")].append(line)
    for entry in await reader.all(_HISTORY_OF, order_ids=ids):
        history[entry.pop("order_id")].append(entry)
    for row in rows:
        row["lines"] = lines[row["id"]]
        row["history"] = history[row["id"]]


async def read_one(reader: Reader, order_id: uuid.UUID, *, user_id: uuid.UUID | None) -> Row | None:
    """An order with its lines and history (fast read path); with `user_id`, only theirs."""
    conditions: dict[str, dict[str, Any]] = {"id": {"order_id": order_id}}
    if user_id is not None:
        conditions["user"] = {"user_id": user_id}
    rows = await _read(reader, conditions, None)
    return rows[0] if rows else None


async def read_page(
    reader: Reader, page: PageParams, *, user_id: uuid.UUID | None, status: str | None
) -> list[Row]:
    """`page.limit + 1` orders, newest first, with their lines and history (fast read path)."""
    conditions: dict[str, dict[str, Any]] = {}
    if user_id is not None:
        conditions["user"] = {"user_id": user_id}
    if status is not None:
        conditions["status"] = {"status": status}
    return await _read(reader, conditions, page)


# --------------------------------------------------------------------------- ORM


_INSERT_ORDER = insert(Order)
_INSERT_LINES = insert(OrderLine)
_INSERT_HISTORY = insert(OrderHistory)
_INSERT_IDEMPOTENCY = insert(IdempotencyRecord)


async def insert_order(
    session: WriteSession,
    order: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    idempotency: Mapping[str, Any] | None,
) -> None:
    """A new order's rows, in the session's transaction, with Core statements (the ORM's unit
    of work would sort, track and refresh objects that die with the request).

    PostgreSQL: one statement, the inserts chained as data-modifying CTEs (each runs exactly
    once; the foreign keys are checked at the end of the statement, when every row is in).
    Elsewhere: one statement per table."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        rows = [("order", order), *(("line", line) for line in lines)]
        rows += [("history", entry) for entry in history]
        if idempotency is not None:
            rows.append(("key", idempotency))
        statement = _chained_inserts(tuple((table, tuple(row)) for table, row in rows))
        params = {
            f"{index}_{name}": value
            for index, (_, row) in enumerate(rows)
            for name, value in row.items()
        }
        await connection.execute(statement, params)
        return
    await connection.execute(_INSERT_ORDER, dict(order))
    await connection.execute(_INSERT_LINES, [dict(line) for line in lines])
    await connection.execute(_INSERT_HISTORY, [dict(entry) for entry in history])
    if idempotency is not None:
        await connection.execute(_INSERT_IDEMPOTENCY, dict(idempotency))


_MODELS: dict[str, Any] = {
    "order": Order,
    "line": OrderLine,
    "history": OrderHistory,
    "key": IdempotencyRecord,
}


@cache
def _chained_inserts(shape: tuple[tuple[str, tuple[str, ...]], ...]) -> Any:
    """`WITH insert_0 AS (INSERT ...), insert_1 AS (INSERT ...) ... INSERT ...`, one row per
    insert, its values the parameters `<row index>_<column>`. Built once per shape (the number
    of lines, with or without a key): building a statement costs more than running it."""
    steps = [
        insert(_MODELS[table]).values({name: bindparam(f"{index}_{name}") for name in columns})
        for index, (table, columns) in enumerate(shape)
    ]
    *chained, last = steps
    return last.add_cte(*(step.cte(f"insert_{index}") for index, step in enumerate(chained)))


async def add(session: WriteSession, *objects: Order | OrderHistory | IdempotencyRecord) -> None:
    session.add_all(objects)
    await session.flush()


async def get(session: ReadSession, order_id: uuid.UUID) -> Order | None:
    """The order with its lines and history, as entities (for a write that returns it)."""
    query = select(Order).options(*_WITH_DETAILS).where(Order.id == order_id)
    return await session.scalar(query)


async def get_status(
    session: ReadSession, order_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> str | None:
    query = select(Order.status).where(Order.id == order_id)
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    status: str | None = await session.scalar(query)
    return status


async def move_status(
    session: WriteSession,
    order_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None,
    allowed_from: Collection[str],
    to: str,
    at: datetime,
) -> bool:
    """Compare-and-set: True if this statement moved the order. The `status IN` condition is
    re-checked on the locked row, so of two concurrent moves only one can win."""
    statement = (
        update(Order)
        .where(Order.id == order_id, Order.status.in_(list(allowed_from)))
        .values(status=to, updated_at=at)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    if user_id is not None:
        statement = statement.where(Order.user_id == user_id)
    return (await session.execute(statement)).first() is not None


# --------------------------------------------------------------------------- idempotency


_KEY_OF = (IdempotencyRecord.user_id == bindparam("user_id")) & (
    IdempotencyRecord.key == bindparam("key")
)
_IDEMPOTENCY_RECORD = select(
    IdempotencyRecord.fingerprint,
    IdempotencyRecord.status_code,
    IdempotencyRecord.response_body,
    IdempotencyRecord.created_at,
).where(_KEY_OF)
_DELETE_IDEMPOTENCY_RECORD = delete(IdempotencyRecord).where(_KEY_OF)


_ONE_ROW = select(literal_column("1").label("one")).subquery("one")
# PostgreSQL: the lock and the look-up in one statement. Its snapshot is taken before the lock:
# if the request that held the lock commits in between, this one takes the lock without
# seeing that request's record, and its own record then collides with it (a unique violation,
# answered 409 IDEMPOTENCY_IN_PROGRESS; the retry replays). Nothing is ever written twice.
_LOCK_AND_FIND = select(
    func.pg_try_advisory_xact_lock(bindparam("lock_key", type_=BigInteger)).label("locked"),
    *_IDEMPOTENCY_RECORD.selected_columns,
).select_from(_ONE_ROW.outerjoin(IdempotencyRecord, _KEY_OF))


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key's row, but whose it is: what `lock_and_find_idempotency_record` finds."""

    fingerprint: str
    status_code: int
    response_body: str
    created_at: datetime


async def lock_and_find_idempotency_record(
    session: WriteSession, lock_key: int, user_id: uuid.UUID, key: str
) -> tuple[bool, StoredKey | None]:
    """(Whether this request holds the key, its row or None). PostgreSQL: a
    transaction-scoped advisory lock, released at commit or rollback; elsewhere (SQLite,
    whose writers the database serialises) always held."""
    connection = await session.connection()
    params = {"lock_key": lock_key, "user_id": user_id, "key": key}
    if connection.dialect.name != "postgresql":
        row = (await connection.execute(_IDEMPOTENCY_RECORD, params)).one_or_none()
        return True, None if row is None else _stored_key(row)
    row = (await connection.execute(_LOCK_AND_FIND, params)).one()
    if not row.locked or row.fingerprint is None:
        return bool(row.locked), None
    return True, _stored_key(row)


def _stored_key(row: Any) -> StoredKey:
    return StoredKey(row.fingerprint, row.status_code, row.response_body, row.created_at)


async def delete_idempotency_record(session: WriteSession, user_id: uuid.UUID, key: str) -> None:
    connection = await session.connection()
    await connection.execute(_DELETE_IDEMPOTENCY_RECORD, {"user_id": user_id, "key": key})


async def purge_idempotency_records(
    session: WriteSession, created_before: datetime, *, limit: int
) -> int:
    """Delete up to `limit` records created before `created_before`, oldest first, skipping
    rows another transaction holds (a request replaying one, another replica's purge): a
    bounded batch that never waits. The number deleted."""
    batch = (
        select(IdempotencyRecord.user_id, IdempotencyRecord.key)
        .where(IdempotencyRecord.created_at < created_before)
        .order_by(IdempotencyRecord.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    key = (IdempotencyRecord.user_id, IdempotencyRecord.key)
    return len(await delete_batch(session, IdempotencyRecord, key, batch))
