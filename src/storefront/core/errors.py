"""The one error vocabulary: every error a client can get is an `AppError` class, which says its
status, code, default message and the shape of its `details` in one place, and one function,
`error_response`, renders every envelope `{"error": {code, message, details, request_id}}`:
for the handlers below, the edge middleware and the readiness probe alike. The OpenAPI document
is generated from the same classes (`core.openapi.error_responses`).

The generic kinds live here; each domain declares its own in its `errors.py` (`EmailTaken`,
`InsufficientStock`, ...), as subclasses of these. A subclass that keeps its parent's `code`
is the same kind to a client, with a more precise message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match

from storefront.core.error_schemas import NoDetails, PayloadTooLargeDetails, ValidationDetails
from storefront.core.logging import get_logger

logger = get_logger("storefront.errors")


# --------------------------------------------------------------------------- the kinds


class AppError(Exception):
    """A refusal a client sees. Subclasses set the class attributes; a raise may give a more
    precise message, the details (shaped as `details_model`) and extra headers."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    message: str = "Internal server error"
    details_model: ClassVar[type[BaseModel]] = NoDetails
    default_headers: ClassVar[Mapping[str, str]] = {}
    # True for a refusal whose writes must be committed all the same (the request's unit of
    # work commits instead of rolling back), e.g. revoking a login whose token was stolen.
    keeps_writes: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).message
        self.details = dict(details or {})
        self.headers = {**self.default_headers, **(headers or {})}
        super().__init__(self.message)


class BadRequest(AppError):
    """The request cannot be read (a body that is not valid JSON, a bad `Content-Length`), or
    its `Host` is not one we serve."""

    status_code, code, message = 400, "BAD_REQUEST", "Bad request"


class Unauthorized(AppError):
    """No, bad, expired or revoked credentials."""

    status_code, code, message = 401, "UNAUTHORIZED", "Not authenticated"
    default_headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    """Authenticated, but not allowed (a role, or a disabled account)."""

    status_code, code, message = 403, "FORBIDDEN", "Not allowed"


class NotFound(AppError):
    """The resource does not exist, or is not yours."""

    status_code, code, message = 404, "NOT_FOUND", "Resource not found"


class MethodNotAllowed(AppError):
    """The path exists, but not with this method; `Allow` lists those it has."""

    status_code, code, message = 405, "METHOD_NOT_ALLOWED", "Method not allowed"


class RequestTimeout(AppError):
    """The request body did not arrive in time."""

    status_code, code, message = 408, "REQUEST_TIMEOUT", "Request body was not received in time"


class Conflict(AppError):
    """The request conflicts with the current state; or a concurrent request won (the
    database undid this one, nothing was written): retry after `Retry-After` seconds."""

    status_code, code, message = 409, "CONFLICT", "Conflict"


class PayloadTooLarge(AppError):
    """The request body is over the configured limit."""

    status_code, code, message = 413, "PAYLOAD_TOO_LARGE", "Request body is too large"
    details_model = PayloadTooLargeDetails


class UnsupportedMediaType(AppError):
    """The body is not of the media type the route reads (JSON, or the OAuth2 form)."""

    status_code, code, message = 415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"


class ValidationFailed(AppError):
    """Bad input: `details.errors` says which fields and why (never echoing their values)."""

    status_code, code, message = 422, "VALIDATION_ERROR", "Request validation failed"
    details_model = ValidationDetails

    @classmethod
    def of_field(cls, field: str, message: str, *, type_: str = "value_error") -> ValidationFailed:
        """One field's problem, shaped like FastAPI's own validation errors."""
        errors = [{"field": field, "message": message, "type": type_}]
        return cls(message, details={"errors": errors})


class RateLimited(AppError):
    """Too many requests; `Retry-After` says how many seconds to wait."""

    status_code, code, message = 429, "RATE_LIMITED", "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(max(1, retry_after))})


class HeadersTooLarge(AppError):
    """The request's headers are over 16 KiB."""

    status_code = 431
    code, message = "REQUEST_HEADER_FIELDS_TOO_LARGE", "Request headers are too large"


class InternalError(AppError):
    """A bug on our side (the log has the request id)."""

    status_code, code, message = 500, "INTERNAL_ERROR", "Internal server error"


class ServiceUnavailable(AppError):
    """The database is unreachable, or the password hasher is saturated; retry after
    `Retry-After` seconds."""

    status_code, code = 503, "SERVICE_UNAVAILABLE"
    message = "Service temporarily unavailable"


# The kind of each status that the framework or the edge answers by itself.
BY_STATUS: dict[int, type[AppError]] = {
    kind.status_code: kind
    for kind in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        RequestTimeout,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        ValidationFailed,
        RateLimited,
        HeadersTooLarge,
        InternalError,
        ServiceUnavailable,
    )
}


# --------------------------------------------------------------------------- rendering


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


def error_payload(error: AppError) -> dict[str, Any]:
    return {
        "error": {
            "code": error.code,
            "message": error.message,
            "details": error.details,
            "request_id": current_request_id(),
        }
    }


def error_response(error: AppError, *, extra: Mapping[str, Any] | None = None) -> JSONResponse:
    """The one rendering of an error: its status, the envelope (beside `extra` top-level keys,
    which only the readiness probe's contract asks for), and its headers."""
    body = error_payload(error) if extra is None else {**extra, **error_payload(error)}
    return JSONResponse(body, status_code=error.status_code, headers=error.headers or None)


def validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """FastAPI/pydantic errors as `[{field, message, type}]`, never echoing the input."""
    shaped = []
    for error in errors:
        loc = error.get("loc", ()) if isinstance(error, Mapping) else ()
        shaped.append(
            {
                "field": ".".join(str(part) for part in loc),
                "message": str(error.get("msg", "Invalid value")),
                "type": str(error.get("type", "value_error")),
            }
        )
    return shaped


# PostgreSQL refusing the connection rather than the query: a connection exception (class 08),
# too many clients (53300), or a server shutting down or starting up (57P01-57P03).
_UNAVAILABLE_SQLSTATES = ("08", "53300", "57P01", "57P02", "57P03")


def is_database_unavailable(exc: BaseException) -> bool:
    """Outages look different per driver: asyncpg raises plain OSError, a full pool raises
    SQLAlchemy's TimeoutError, a dropped connection an invalidated DBAPIError, a server out of
    connection slots an error with the SQLSTATE above."""
    if isinstance(exc, PoolTimeoutError | OSError):
        return True
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None)
        return (
            exc.connection_invalidated
            or isinstance(exc, OperationalError | InterfaceError)
            or (isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES))
        )
    return False


# --------------------------------------------------------------------------- handlers


async def _app_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only
    return error_response(exc)


async def _validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    return error_response(ValidationFailed(details={"errors": validation_errors(exc.errors())}))


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. Starlette's own 405 names only the methods
    of the first route whose path matched, but one path is often several routes
    (`GET`, `PATCH` and `DELETE /products/{id}`), and `Allow` must list them all (RFC 9110)."""
    allowed = []
    for method in _METHODS:
        probe = {
            "type": "http",
            "method": method,
            "path": request.scope["path"],
            "root_path": request.scope.get("root_path", ""),
            "headers": [],
            "query_string": b"",
        }
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    if "GET" in allowed and "HEAD" not in allowed:
        allowed.insert(allowed.index("GET") + 1, "HEAD")  # see HeadAsGetMiddleware
    return allowed


async def _http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    status = exc.status_code
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    if status == 404 and message == "Not Found":
        message = NotFound.message
    headers = dict(exc.headers or {})
    if status == 405:
        headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
    kind = BY_STATUS.get(status, BadRequest if status < 500 else InternalError)
    return error_response(kind(message, headers=headers))


def is_rejected_value(exc: BaseException) -> bool:
    """PostgreSQL refused a value (SQLSTATE class 22, "data exception": a character it cannot
    store, a string too long for its column, a number out of range), whatever exception class
    the driver raised it as."""
    return isinstance(exc, DataError) or _sqlstate(exc).startswith("22")


def _sqlstate(exc: BaseException) -> str:
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else ""


async def _database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if is_rejected_value(exc):
        return await _data_error_handler(request, exc)
    if _sqlstate(exc).startswith("40"):
        # A deadlock or a serialisation failure (class 40): the database undid this request
        # so that a concurrent one could finish. Nothing was written; a retry will do.
        logger.warning("database_transaction_rolled_back", sqlstate=_sqlstate(exc))
        return error_response(
            Conflict(
                "A concurrent request changed the same data; retry", headers={"Retry-After": "1"}
            )
        )
    if not is_database_unavailable(exc):
        # A database error that is not an outage is a bug: let the outermost layer log it
        # and answer 500.
        raise exc
    logger.warning("database_unavailable", error_type=type(exc).__name__)
    return error_response(
        ServiceUnavailable("The database is unavailable", headers={"Retry-After": "5"})
    )


async def _data_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value the schemas let through (e.g. a NUL character, which
    # PostgreSQL text cannot hold): the client's input, not our bug.
    logger.warning("database_rejected_value", error_type=type(exc).__name__)
    refused = ValidationFailed.of_field("body", "Unsupported value (e.g. a NUL character)")
    return error_response(
        ValidationFailed("A value in the request cannot be stored", details=refused.details)
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    for exc_type in (DBAPIError, PoolTimeoutError, OSError):
        app.add_exception_handler(exc_type, _database_error_handler)
    app.add_exception_handler(DataError, _data_error_handler)
