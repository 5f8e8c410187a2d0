"""HTTP caching of public reads (the catalogue): a strong `ETag`, `Cache-Control: public`, and
`304 Not Modified` for a matching `If-None-Match` (RFC 9110 §8.8.3, §13.1.2, §15.4.5).

The tag is derived from the rows a response is built from, before the body is: the response
model's schema, each row's id and `updated_at` (to the microsecond), and the page's next cursor.
Those determine the body, because every write to such a row sets its `updated_at` (the ORM's
`onupdate`, and explicitly in the stock `UPDATE`s). So a 304 costs the query and a hash of a few
bytes per row, never building or serialising the page. Hashing the body would be as strong but
needs the body first, which is most of the work a 304 exists to skip.

A request with `Authorization` gets neither tag nor 304: whatever depends on the caller, and any
answer to a request bearing credentials, keeps `Cache-Control: no-store` (which the outermost
middleware adds to every response that sets no `Cache-Control`).

A body that a middleware compresses is another representation, so it must not share the strong
tag (RFC 9110 §8.8.3): `EncodedETagMiddleware` turns `"<tag>"` into `"<tag>-gzip"` there, and
`If-None-Match` matches either form.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Protocol

from fastapi import Header, Request, Response
from pydantic import BaseModel
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefront.core.config import Settings

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# An entity-tag (RFC 9110 §8.8.3): optional `W/`, then an opaque tag in double quotes (which may
# itself hold commas, so a list is read tag by tag rather than split on commas).
_ENTITY_TAG = re.compile(r'(?:W/)?"([^"]*)"')

IfNoneMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        description="ETags of representations the client holds (`*`, or a list; `W/` allowed). "
        "When one matches, the answer is 304 with no body.",
    ),
]


class Versioned(Protocol):
    """What a row needs for its version to be part of a tag."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def updated_at(self) -> datetime: ...


@cache
def _schema_fingerprint(model: type[BaseModel]) -> bytes:
    """A new release that changes the representation changes every tag, rows unchanged."""
    schema = json.dumps(model.model_json_schema(mode="serialization"), sort_keys=True)
    return hashlib.blake2b(schema.encode(), digest_size=16).digest()


def _version(row: Versioned | Mapping[str, Any]) -> tuple[uuid.UUID, datetime]:
    """A row's id and `updated_at`: an object's attributes, or a mapping's keys (the rows of
    the fast read path, core.reads)."""
    if isinstance(row, Mapping):
        return row["id"], row["updated_at"]
    return row.id, row.updated_at


def rows_etag(
    model: type[BaseModel],
    rows: Iterable[Versioned | Mapping[str, Any]],
    next_cursor: str | None = None,
) -> str:
    """The strong ETag of a `model` body built from `rows` (and, for a page, its cursor)."""
    digest = hashlib.blake2b(_schema_fingerprint(model), digest_size=16)
    for row in rows:
        row_id, updated_at = _version(row)
        micros = (updated_at - _EPOCH) // _MICROSECOND
        digest.update(row_id.bytes + micros.to_bytes(8, "big", signed=True))
    if next_cursor is not None:
        digest.update(b"\x00" + next_cursor.encode())
    return f'"{digest.hexdigest()}"'


def _matching_tag(if_none_match: str, etag: str) -> str | None:
    """The tag of `If-None-Match` that matches `etag` by weak comparison, in its strong form;
    `etag` itself for `*`; None when nothing matches."""
    if if_none_match.strip() == "*":
        return etag
    opaque = etag.strip('"')
    for candidate in _ENTITY_TAG.findall(if_none_match):
        # `"<tag>-gzip"` is the same representation data, compressed (EncodedETagMiddleware).
        if candidate == opaque or candidate.partition("-")[0] == opaque:
            return f'"{candidate}"'
    return None


@cache
def _cache_control(max_age: int, stale_while_revalidate: int) -> str:
    return f"public, max-age={max_age}, stale-while-revalidate={stale_while_revalidate}"


def revalidating(request: Request) -> bool:
    """A public read whose client holds a representation and asks whether it changed: the
    route may compute the tag more cheaply than the page (and then answer 304)."""
    headers = request.headers
    return "if-none-match" in headers and "authorization" not in headers


def cached_or_not_modified(request: Request, response: Response, etag: str) -> Response | None:
    """For a public read: put `ETag` and `Cache-Control` on `response` (the 200 the route is
    about to build) and return None; or return the 304 to send instead, when `If-None-Match`
    matches. A request with `Authorization` is left alone (no tag, no 304, `no-store`)."""
    if "authorization" in request.headers:
        return None
    settings: Settings = request.app.state.settings
    cache_control = _cache_control(
        settings.catalogue_max_age_seconds, settings.catalogue_stale_while_revalidate_seconds
    )
    if_none_match = ", ".join(request.headers.getlist("if-none-match"))
    matched = _matching_tag(if_none_match, etag) if if_none_match else None
    if matched is not None:
        # What a 200 would have carried (RFC 9110 §15.4.5); compression may add `Vary` to one.
        return Response(
            status_code=304,
            headers={"ETag": matched, "Cache-Control": cache_control, "Vary": "Accept-Encoding"},
        )
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = cache_control
    return None


def cacheable_responses() -> dict[int | str, dict[str, Any]]:
    """`responses=` of a cacheable route: the headers of its 200, and its 304."""
    headers = {
        "ETag": {
            "description": "Strong validator of this representation (absent when the request "
            "carries `Authorization`).",
            "schema": {"type": "string"},
        },
        "Cache-Control": {
            "description": "`public, max-age=…, stale-while-revalidate=…`; `no-store` when the "
            "request carries `Authorization`.",
            "schema": {"type": "string"},
        },
    }
    return {
        200: {"headers": headers},
        304: {
            "description": "Not modified: the representation matching `If-None-Match` is "
            "current. No body.",
            "headers": headers,
        },
    }


class EncodedETagMiddleware:
    """Gives a compressed body a strong ETag of its own, `"<tag>-<coding>"`: compression makes
    another representation, which must not share the strong tag of the identity one. Sits just
    outside the compression middleware, which leaves `ETag` as it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return

        async def send_with_coded_etag(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                etag, coding = headers.get("etag"), headers.get("content-encoding")
                if etag and coding and etag.startswith('"'):
                    headers["etag"] = f'{etag[:-1]}-{coding}"'
            await send(message)

        await self.app(scope, receive, send_with_coded_etag)
