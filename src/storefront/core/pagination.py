"""Keyset pagination: opaque cursors over `(created_at, id)`, and the `Page[T]` envelope.

Every list is ordered `created_at DESC, id DESC`; the cursor names the last row of the page,
and the next page is the rows strictly after it. Stable under inserts (new rows land on
page one), and each page costs one index range scan, never an OFFSET or a COUNT.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Generic, Protocol, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict

from storefront.core.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Cursor:
    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            padded = value + "=" * (-len(value) % 4)
            text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
            created_raw, id_raw = text.split("|")
            created_at = datetime.fromisoformat(created_raw)
            if created_at.tzinfo is None:
                raise ValueError("naive timestamp")
            return cls(created_at=created_at, id=uuid.UUID(id_raw))
        except (ValueError, UnicodeError, binascii.Error) as exc:
            raise ValidationFailed(
                "query.cursor", "Malformed cursor", type_="cursor_invalid"
            ) from exc


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    cursor: Cursor | None


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Page size (1-100).")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="Opaque cursor: `next_cursor` of the previous page."),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=Cursor.decode(cursor) if cursor else None)


PageParamsDep = Annotated[PageParams, Depends(page_params)]


T = TypeVar("T")


class Keyed(Protocol):
    @property
    def created_at(self) -> datetime: ...
    @property
    def id(self) -> uuid.UUID: ...


class Page(BaseModel, Generic[T]):
    model_config = ConfigDict(from_attributes=True)

    items: list[T]
    next_cursor: str | None = None


def next_cursor(rows: Sequence[Keyed], limit: int) -> str | None:
    """Given `limit + 1` fetched rows, the cursor of the next page (or None); callers then
    drop the extra row with `rows[:limit]`."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return Cursor(created_at=last.created_at, id=last.id).encode()
