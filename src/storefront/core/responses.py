"""JSON bodies rendered once: rows validated into the response model and serialised by pydantic,
returned as a `Response` so that FastAPI does not validate and serialise them a second time.

A route keeps its `response_model=` (the OpenAPI document describes it) and returns
`json_response(Model, row)`; FastAPI passes a returned `Response` through untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, TypeAdapter
from starlette.responses import Response

from storefront.core.pagination import Page, Slice

JSON_MEDIA_TYPE = "application/json"


@cache
def _adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def render(model: type[BaseModel], data: Any) -> bytes:
    """`data` (a row dict, or an object with the model's attributes) as the model's JSON."""
    adapter = _adapter(model)
    return adapter.dump_json(adapter.validate_python(data, from_attributes=True))


def json_response(
    model: type[BaseModel],
    data: Any,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = render(model, data)
    return Response(body, status_code=status_code, headers=headers, media_type=JSON_MEDIA_TYPE)


def page_response(
    item_model: type[BaseModel], page: Slice[Any], headers: Mapping[str, str] | None = None
) -> Response:
    """A `Page[item_model]` body from a service's slice of rows."""
    body = {"items": page.items, "next_cursor": page.next_cursor}
    return json_response(Page[item_model], body, headers=headers)  # type: ignore[valid-type]
