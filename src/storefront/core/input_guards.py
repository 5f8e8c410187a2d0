"""Edge checks on what a request carries, before any route logic runs.

- 415 for a body that is not JSON on a route that expects JSON (FastAPI would read such a body
  as bytes and answer 422); form routes (the OAuth2 token route) expect a form instead.
- 422 for a NUL character in the query string, the JSON body or a form value: PostgreSQL
  text cannot hold one (SQLite can), so refusing it at the edge gives the same answer on both
  databases.

Runs as an API-wide dependency, after FastAPI has read (and cached) the body and before the
body is validated against the route's schema.
"""

from __future__ import annotations

from fastapi import Request
from fastapi import params as fastapi_params
from fastapi.routing import APIRoute

from storefront.core.errors import UnsupportedMediaType, ValidationFailed

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_NUL_IN_QUERY = (b"%00", b"\x00")
_NUL_IN_JSON = (b"\\u0000", b"\x00")


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def guard_request_input(request: Request) -> None:
    query = request.scope.get("query_string", b"")
    if query and any(marker in query.lower() for marker in _NUL_IN_QUERY):
        raise ValidationFailed.of_field(
            "query", "NUL characters are not allowed", type_="nul_character"
        )

    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return
    content_type = request.headers.get("content-type")
    if content_type is not None:
        media_type = _media_type(content_type)
        if isinstance(route.body_field.field_info, fastapi_params.Form):
            if media_type not in _FORM_TYPES:
                raise UnsupportedMediaType("Expected a form (application/x-www-form-urlencoded)")
            await _refuse_nul_in_form(request)
            return
        if not _is_json(media_type):
            raise UnsupportedMediaType("Expected a JSON body (application/json)")
    body = await request.body()  # already read by FastAPI: served from its cache
    if any(marker in body for marker in _NUL_IN_JSON):
        raise ValidationFailed.of_field(
            "body", "NUL characters are not allowed", type_="nul_character"
        )


async def _refuse_nul_in_form(request: Request) -> None:
    form = await request.form()  # already parsed by FastAPI: served from its cache
    for name, value in form.multi_items():
        if "\x00" in name or (isinstance(value, str) and "\x00" in value):
            raise ValidationFailed.of_field(
                f"body.{name}" if "\x00" not in name else "body",
                "NUL characters are not allowed",
                type_="nul_character",
            )
