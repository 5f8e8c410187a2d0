"""Keyset pagination: opaque cursors over `(created_at, id)`, the page query (`Keyset`), and
the `Page[T]` envelope.

Every list is ordered `created_at DESC, id DESC`; the cursor names the last row of the page,
and the next page is the rows strictly after it. Stable under inserts (new rows land on
page one), and each page costs one index range scan, never an OFFSET or a COUNT.

A repository reads a page in three steps, each written once here: `Keyset.page` narrows its
query (the rows after the cursor, newest first, `limit` of them), `keyset_params` gives that
query's parameters (`limit + 1` rows: the extra one only tells that a next page exists), and
the service makes the fetched rows a `Slice` (`Slice.from_rows` / `Slice.from_mappings`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, Protocol, TypeVar, TypeVarTuple, cast

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Select, bindparam, tuple_

from storefront.core.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# `<microseconds since 1970>-<id as 32 hex digits>`. Opaque to clients, but every string of
# this shape is a cursor, so the OpenAPI `pattern` says exactly which cursors are accepted
# (17 digits reach past the year 5000 and stay inside `datetime`).
CURSOR_PATTERN = r"^[0-9]{1,17}-[0-9a-f]{32}$"
MAX_CURSOR_LENGTH = 50
_CURSOR_RE = re.compile(CURSOR_PATTERN)


@dataclass(frozen=True, slots=True)
class Cursor:
    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        return f"{(self.created_at - _EPOCH) // _MICROSECOND}-{self.id.hex}"

    @classmethod
    def decode(cls, value: str) -> Cursor:
        if not _CURSOR_RE.fullmatch(value):
            raise ValidationFailed.of_field(
                "query.cursor", "Malformed cursor", type_="cursor_invalid"
            )
        micros, hex_id = value.split("-")
        return cls(created_at=_EPOCH + int(micros) * _MICROSECOND, id=uuid.UUID(hex=hex_id))


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    cursor: Cursor | None


async def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Page size (1-100).")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            pattern=CURSOR_PATTERN,
            description="Opaque cursor: `next_cursor` of the previous page.",
        ),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=Cursor.decode(cursor) if cursor else None)


PageParamsDep = Annotated[PageParams, Depends(page_params)]


# --------------------------------------------------------------------------- the page query

# The parameters of a page query. Bind parameters, not values: one statement serves every page
# of a list, so it can be compiled once (`core.reads.ReadQuery`) as well as built per request.
_LIMIT = "page_limit"
_CURSOR_CREATED_AT = "cursor_created_at"
_CURSOR_ID = "cursor_id"

Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class Keyset:
    """The keyset of a table: its `created_at` and `id` columns."""

    created_at: ColumnElement[datetime]
    id: ColumnElement[uuid.UUID]

    def page(self, query: Select[*Ts], *, after_cursor: bool) -> Select[*Ts]:
        """`query` narrowed to a page: with `after_cursor`, the rows strictly after the cursor
        (`(created_at, id) < (cursor)`); newest first; as many as `keyset_params` asks for
        (`limit + 1`). Its parameters are `keyset_params(...)`, given a cursor exactly when
        `after_cursor`."""
        if after_cursor:
            query = query.where(self.after_cursor())
        ordered = query.order_by(self.created_at.desc(), self.id.desc())
        return ordered.limit(bindparam(_LIMIT))

    def after_cursor(self) -> ColumnElement[bool]:
        cursor = tuple_(
            bindparam(_CURSOR_CREATED_AT, type_=self.created_at.type),
            bindparam(_CURSOR_ID, type_=self.id.type),
        )
        return tuple_(self.created_at, self.id) < cursor


def keyset_params(limit: int, cursor: Cursor | None) -> dict[str, Any]:
    """The parameters of a `Keyset.page` query: `limit + 1` rows (the extra one only tells
    that a next page exists), after `cursor`."""
    params: dict[str, Any] = {_LIMIT: limit + 1}
    if cursor is not None:
        params[_CURSOR_CREATED_AT] = cursor.created_at
        params[_CURSOR_ID] = cursor.id
    return params


# --------------------------------------------------------------------------- pages

T = TypeVar("T")


class Keyed(Protocol):
    """What keyset pagination needs of a row."""

    @property
    def created_at(self) -> datetime: ...
    @property
    def id(self) -> uuid.UUID: ...


class Page(BaseModel, Generic[T]):
    # `next_cursor` is always sent (null on the last page): required in the document.
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )

    items: list[T]
    next_cursor: str | None = None


# Not `bound=Keyed`: mypy does not match SQLAlchemy's `Mapped` attributes against a protocol
# bound, so `from_rows` casts. Every model paginated here has `created_at` and `id`.
K = TypeVar("K")
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Slice(Generic[K]):
    """A page as a service returns it: the model rows and the cursor of the next page."""

    items: Sequence[K]
    next_cursor: str | None = None

    @classmethod
    def from_rows(cls, rows: Sequence[K], limit: int) -> Slice[K]:
        """From `limit + 1` fetched rows: the extra one only tells that a next page exists."""
        return cls(
            items=rows[:limit], next_cursor=next_cursor(cast("Sequence[Keyed]", rows), limit)
        )

    @classmethod
    def from_mappings(cls, rows: Sequence[Mapping[str, Any]], limit: int) -> Slice[K]:
        """`from_rows` for rows read as mappings (the fast read path)."""
        cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            cursor = Cursor(created_at=last["created_at"], id=last["id"]).encode()
        return cls(items=cast("Sequence[K]", rows[:limit]), next_cursor=cursor)


def page_of(read_model: type[R], page: Slice[Any]) -> Page[R]:
    """The body of a list route: each row in its read schema."""
    return Page(
        items=[read_model.model_validate(row) for row in page.items],
        next_cursor=page.next_cursor,
    )


def next_cursor(rows: Sequence[Keyed], limit: int) -> str | None:
    """Given `limit + 1` fetched rows, the cursor of the next page (or None); callers then
    drop the extra row with `rows[:limit]`."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return Cursor(created_at=last.created_at, id=last.id).encode()
