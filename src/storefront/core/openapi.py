"""OpenAPI shaping: `<tag>-<function_name>` operation ids, and the error envelope documented as
the body of every error status."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from storefront.core.errors import ErrorEnvelope

_DESCRIPTIONS = {
    "400": "Bad request (e.g. a body that cannot be parsed)",
    "401": "Missing, invalid, expired or revoked credentials",
    "403": "Not allowed",
    "404": "Not found",
    "408": "Request body not received in time",
    "409": "Conflict with the current state",
    "413": "Request body too large",
    "415": "Unsupported media type",
    "422": "Validation error",
    "429": "Rate limited (see Retry-After)",
    "500": "Internal error",
    "503": "Service unavailable (database unreachable)",
}
_ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"
_SCHEMA_REF_PREFIX = "#/components/schemas/"
# What `core/input_guards.py` enforces: no NUL character in a query or a JSON body.
_NO_NUL_PATTERN = r"^[^\x00]*$"
_FORMATS_WITHOUT_NUL = {"uuid", "date-time", "date", "time", "duration", "email", "uri"}


def operation_id(route: APIRoute) -> str:
    tag = str(route.tags[0]) if route.tags else "default"
    return f"{tag}-{route.name}"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the given error statuses, each with the envelope."""
    return {
        status: {"model": ErrorEnvelope, "description": _DESCRIPTIONS.get(str(status), "Error")}
        for status in statuses
    }


def _envelope_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _ENVELOPE_REF}}}


def _referenced_components(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_SCHEMA_REF_PREFIX):
            found.add(ref.removeprefix(_SCHEMA_REF_PREFIX))
        for value in node.values():
            _referenced_components(value, found)
    elif isinstance(node, list):
        for value in node:
            _referenced_components(value, found)


def _forbid_nul(schema: Any) -> None:
    """Give every free-form string of a request schema the pattern that says what the input
    guard refuses, so the document allows exactly what the service accepts. Strings with a
    pattern, an enum or a const of their own, or a format such as `uuid`, cannot hold a NUL
    already (`password` is a display hint, not a shape)."""
    if not isinstance(schema, dict):
        return
    if (
        schema.get("type") == "string"
        and not {"pattern", "enum", "const"} & set(schema)
        and schema.get("format") not in _FORMATS_WITHOUT_NUL
    ):
        schema["pattern"] = _NO_NUL_PATTERN
    for key in ("properties", "patternProperties", "$defs"):
        for sub in (schema.get(key) or {}).values():
            _forbid_nul(sub)
    for key in ("items", "additionalProperties", "not", "contains"):
        _forbid_nul(schema.get(key))
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in schema.get(key) or ():
            _forbid_nul(sub)


def _forbid_nul_in_requests(schema: dict[str, Any]) -> None:
    components: dict[str, Any] = schema.get("components", {}).get("schemas", {})
    request_schemas: list[Any] = []
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            request_schemas += [p.get("schema") for p in operation.get("parameters", ())]
            body = operation.get("requestBody", {}).get("content", {})
            request_schemas += [media.get("schema") for media in body.values()]
    names: set[str] = set()
    _referenced_components(request_schemas, names)
    pending = list(names)
    while pending:  # components that the request components refer to, transitively
        found: set[str] = set()
        _referenced_components(components.get(pending.pop()), found)
        pending += sorted(found - names)
        names |= found
    for item in request_schemas:
        _forbid_nul(item)
    for name in sorted(names):
        _forbid_nul(components.get(name))


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorEnvelope"] = ErrorEnvelope.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for name, definition in components["ErrorEnvelope"].pop("$defs", {}).items():
            components.setdefault(name, definition)
        # FastAPI's own 422 schema is replaced by the envelope.
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses: dict[str, Any] = operation.setdefault("responses", {})
                extra = ["500"]
                if path.startswith("/api/"):
                    extra += ["429", "503"]
                    if operation.get("parameters") or operation.get("requestBody"):
                        extra.append("422")
                if operation.get("requestBody"):
                    # 400: a body that cannot be parsed; 408: a body that trickles in too slowly
                    extra += ["400", "408", "413", "415"]
                for status in extra:
                    responses.setdefault(status, {"description": _DESCRIPTIONS[status]})
                for status, response in responses.items():
                    if status.isdigit() and int(status) >= 400:
                        if status == "422" or "content" not in response:
                            response["content"] = _envelope_content()
                        response.setdefault("description", _DESCRIPTIONS.get(status, "Error"))
                        if status == "401":
                            response.setdefault("headers", {})["WWW-Authenticate"] = {
                                "schema": {"type": "string"}
                            }
                        if status == "429":
                            response.setdefault("headers", {})["Retry-After"] = {
                                "schema": {"type": "integer"}
                            }
        _forbid_nul_in_requests(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]
