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
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]
