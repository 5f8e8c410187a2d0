"""The error envelope: AppError hierarchy, and the handlers that render every non-2xx.

Services raise `AppError` subclasses and know nothing of HTTP; these handlers turn them,
FastAPI's validation errors, Starlette's HTTP errors, rate limits and database outages into
`{"error": {"code", "message", "details", "request_id"}}`. What the OpenAPI document says of
each kind of error is in `core/error_schemas.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match

from storefront.core.logging import get_logger

logger = get_logger("storefront.errors")


# --------------------------------------------------------------------------- exceptions


class AppError(Exception):
    status_code: int = 500
    code: str = "INTERNAL_ERROR"
    message: str = "Internal server error"
    # True for a refusal whose writes must be committed all the same (the request's unit of
    # work commits instead of rolling back), e.g. revoking a login whose token was stolen.
    keeps_writes: bool = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).message
        self.code = code or type(self).code
        self.details = dict(details or {})
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequest(AppError):
    status_code, code, message = 400, "BAD_REQUEST", "Bad request"


class InvalidToken(AppError):
    status_code, code, message = 400, "INVALID_TOKEN", "The token is invalid or expired"


class Unauthorized(AppError):
    status_code, code, message = 401, "UNAUTHORIZED", "Not authenticated"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(AppError):
    status_code, code, message = 403, "FORBIDDEN", "Not allowed"


class WrongPassword(AppError):
    status_code, code, message = 403, "WRONG_PASSWORD", "The current password is wrong"


class NotFound(AppError):
    status_code, code, message = 404, "NOT_FOUND", "Not found"


class Conflict(AppError):
    status_code, code, message = 409, "CONFLICT", "Conflict"


class PayloadTooLarge(AppError):
    status_code, code, message = 413, "PAYLOAD_TOO_LARGE", "Request body is too large"


class UnsupportedMediaType(AppError):
    status_code, code, message = 415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"


class ValidationFailed(AppError):
    """A 422 raised by a service (e.g. an unknown product), shaped like FastAPI's own."""

    status_code, code, message = 422, "VALIDATION_ERROR", "Request validation failed"

    def __init__(
        self, field: str, message: str, *, type_: str = "value_error", **kwargs: Any
    ) -> None:
        kwargs.setdefault(
            "details", {"errors": [{"field": field, "message": message, "type": type_}]}
        )
        super().__init__(message, **kwargs)


class RateLimited(AppError):
    status_code, code, message = 429, "RATE_LIMITED", "Too many requests"

    def __init__(self, retry_after: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.headers["Retry-After"] = str(max(1, retry_after))


class ServiceUnavailable(AppError):
    status_code, code, message = 503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable"


# --------------------------------------------------------------------------- rendering

_CODES_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    431: "REQUEST_HEADER_FIELDS_TOO_LARGE",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


def error_payload(
    code: str, message: str, details: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": dict(details or {}),
            "request_id": current_request_id(),
        }
    }


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_payload(code, message, details), status_code=status_code, headers=headers
    )


def code_for_status(status_code: int) -> str:
    return _CODES_BY_STATUS.get(status_code, HTTPStatus(status_code).name)


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
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    return error_response(
        422,
        "VALIDATION_ERROR",
        "Request validation failed",
        {"errors": validation_errors(exc.errors())},
    )


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
        message = "Resource not found"
    headers = dict(exc.headers or {})
    if status == 405:
        headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
    return error_response(status, code_for_status(status), message, headers=headers or None)


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
            409,
            "CONFLICT",
            "A concurrent request changed the same data; retry",
            headers={"Retry-After": "1"},
        )
    if not is_database_unavailable(exc):
        # A database error that is not an outage is a bug: let the outermost layer log it
        # and answer 500.
        raise exc
    logger.warning("database_unavailable", error_type=type(exc).__name__)
    return error_response(
        503, "SERVICE_UNAVAILABLE", "The database is unavailable", headers={"Retry-After": "5"}
    )


async def _data_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value the schemas let through (e.g. a NUL character, which
    # PostgreSQL text cannot hold): the client's input, not our bug.
    logger.warning("database_rejected_value", error_type=type(exc).__name__)
    return error_response(
        422,
        "VALIDATION_ERROR",
        "A value in the request cannot be stored",
        {
            "errors": [
                {
                    "field": "body",
                    "message": "Unsupported value (e.g. a NUL character)",
                    "type": "value_error",
                }
            ]
        },
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    for exc_type in (DBAPIError, PoolTimeoutError, OSError):
        app.add_exception_handler(exc_type, _database_error_handler)
    app.add_exception_handler(DataError, _data_error_handler)
