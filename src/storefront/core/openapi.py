"""OpenAPI shaping: `<tag>-<function_name>` operation ids; every error status documented with
the kinds of error it answers, generated from the `AppError` classes a route declares (one
schema per error code: its `code` a constant, its `details` the class's `details_model`);
responses in status order; and request strings that refuse NUL as the input guard does."""

from __future__ import annotations

from typing import Any, Literal, Union

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, create_model

from storefront.core.error_schemas import ErrorBody
from storefront.core.errors import BY_STATUS, AppError

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
    "503": "Service unavailable (see Retry-After)",
}
_HEADERS = {
    "401": {
        "WWW-Authenticate": {
            "description": "Always `Bearer`.",
            "schema": {"type": "string", "examples": ["Bearer"]},
        }
    },
    "409": {
        "Retry-After": {
            "description": "With `CONFLICT` from a concurrent request (the database undid this "
            "one): seconds to wait before retrying.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "429": {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "503": {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}
_REF_TEMPLATE = "#/components/schemas/{model}"
_SCHEMA_REF_PREFIX = "#/components/schemas/"
_FASTAPI_422_REF = {"$ref": "#/components/schemas/HTTPValidationError"}
# What `core/input_guards.py` enforces: no NUL character in a query or a JSON body.
_NO_NUL_PATTERN = r"^[^\x00]*$"
_FORMATS_WITHOUT_NUL = {"uuid", "date-time", "date", "time", "duration", "email", "uri"}


def operation_id(route: APIRoute) -> str:
    tag = str(route.tags[0]) if route.tags else "default"
    return f"{tag}-{route.name}"


def _defining_class(error: type[AppError]) -> type[AppError]:
    """The class that declared `error`'s code: its subclasses are the same kind to a client."""
    for klass in error.__mro__:
        if "code" in vars(klass):
            return klass
    return error


_ENVELOPES: dict[type[AppError], type[BaseModel]] = {}
_CODES: dict[str, str] = {}  # envelope schema name -> its error code


def envelope_schema(error: type[AppError]) -> type[BaseModel]:
    """The envelope of one kind of error, as a model: `{"error": {code, message, details,
    request_id}}` with `code` the kind's constant and `details` its `details_model`. One per
    code, named after the class that declared it (`EmailTaken` -> `EmailTakenError`)."""
    kind = _defining_class(error)
    envelope = _ENVELOPES.get(kind)
    if envelope is None:
        name = kind.__name__.removesuffix("Error")
        code: Any = Literal[kind.code]  # a constant in the schema, built at run time
        body = create_model(
            f"{name}Body", __base__=ErrorBody, code=(code, ...), details=(kind.details_model, ...)
        )
        envelope = create_model(f"{name}Error", error=(body, ...))
        envelope.__doc__ = kind.__doc__
        _ENVELOPES[kind] = envelope
        _CODES[envelope.__name__] = kind.code
    return envelope


def error_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error classes its code can raise, each status with the
    kinds it answers. Several kinds of one status are documented as `anyOf`, which a
    generated client types as a union to narrow on `error.code`."""
    schemas: dict[int, list[type[BaseModel]]] = {}
    for error in errors:
        group = schemas.setdefault(error.status_code, [])
        if envelope_schema(error) not in group:
            group.append(envelope_schema(error))
    return {
        status: {"model": _any_of(group), "description": _DESCRIPTIONS[str(status)]}
        for status, group in sorted(schemas.items())
    }


def _any_of(kinds: list[type[BaseModel]]) -> Any:
    return kinds[0] if len(kinds) == 1 else Union[tuple(kinds)]  # noqa: UP007 - built at run time


def _component_ref(error: type[AppError], components: dict[str, Any]) -> dict[str, str]:
    """A `$ref` to the kind's schema, which is added (with what it refers to) if missing."""
    model = envelope_schema(error)
    definition = model.model_json_schema(mode="serialization", ref_template=_REF_TEMPLATE)
    for name, sub in definition.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, definition)
    return {"$ref": _REF_TEMPLATE.format(model=model.__name__)}


def _writes(path: str, method: str) -> bool:
    return path.startswith("/api/") and method != "get"


def _implied_statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    """Errors every route of its sort can answer, whatever it declares."""
    statuses = ["500"]
    if path.startswith("/api/"):
        statuses += ["429", "503"]
        if operation.get("parameters") or operation.get("requestBody"):
            statuses.append("422")
    if _writes(path, method):
        statuses.append("409")  # a transaction the database undid (deadlock, serialisation)
    if operation.get("requestBody"):
        # 400: a body that cannot be parsed; 408: a body that trickles in too slowly
        statuses += ["400", "408", "413", "415"]
    return statuses


def _with_kind(media: dict[str, Any], ref: dict[str, str]) -> None:
    """Add one more kind to the kinds a response already documents."""
    schema = media["schema"]
    if schema == ref or ref in schema.get("anyOf", ()):
        return
    if "anyOf" in schema:
        schema["anyOf"].append(ref)
    else:
        media["schema"] = {"anyOf": [schema, ref]}


def _document_errors(
    path: str, method: str, operation: dict[str, Any], components: dict[str, Any]
) -> None:
    """Every error status of the operation with its kinds: those the route declared, and the
    plain kind of every status any route of its sort can answer (added to a declared status
    as one more kind, e.g. a 400 `BAD_REQUEST` beside a declared `INVALID_TOKEN`)."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in _implied_statuses(path, method, operation):
        kind_ref = _component_ref(BY_STATUS[int(status)], components)
        response = responses.setdefault(status, {"description": _DESCRIPTIONS[status]})
        media = response.get("content", {}).get("application/json", {})
        if media.get("schema") in (None, _FASTAPI_422_REF):
            response["content"] = {"application/json": {"schema": kind_ref}}
            response["description"] = _DESCRIPTIONS[status]
        else:
            _with_kind(media, kind_ref)
    for status, response in responses.items():
        if status in _HEADERS:
            response.setdefault("headers", {}).update(_HEADERS[status])
        if status in _DESCRIPTIONS:
            response["description"] = _with_codes(_DESCRIPTIONS[status], response)
    operation["responses"] = dict(sorted(responses.items()))


def _with_codes(description: str, response: dict[str, Any]) -> str:
    """The status's description, followed by the error codes it may carry."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    refs = [schema, *schema.get("anyOf", ())]
    names = [str(ref.get("$ref", "")).removeprefix(_SCHEMA_REF_PREFIX) for ref in refs]
    codes = [f"`{_CODES[name]}`" for name in names if name in _CODES]
    return f"{description}: {', '.join(codes)}" if codes else description


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
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                _document_errors(path, method, operation, components)
        # FastAPI's own 422 schema is replaced by the envelope.
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        schema["components"]["schemas"] = dict(sorted(components.items()))
        _forbid_nul_in_requests(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]
