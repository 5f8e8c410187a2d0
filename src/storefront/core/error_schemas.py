"""The error envelope as the OpenAPI document states it: one schema per kind of error.

`core/errors.py` renders every non-2xx answer as `{"error": {code, message, details,
request_id}}`. The models here say, kind by kind, which `code` and which `details` a client
gets, so that a generated client types `details` exactly (`details.errors` on a 422, `{}` where
there is nothing to add) and can narrow on `code`. They are schemas only: services raise the
`AppError`s of `core/errors.py`, and tests check that what they render matches these.

A route names its errors with `core.openapi.error_responses(...)`: a status number stands for
the plain kind of that status (`404` is `NotFoundError`), and a kind names itself
(`WrongPasswordError` is a 403). Domains define their own kinds next to their schemas (e.g.
`InsufficientStockError` in `orders/schemas.py`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from storefront.core.schema_types import omit_null_from_schema


class NoDetails(BaseModel):
    """Always `{}`: this kind of error has nothing to add to its message."""

    model_config = ConfigDict(extra="forbid")


class FieldError(BaseModel):
    field: str = Field(
        description="Where the problem is: `body.<field>`, `query.<name>`, `path.<name>` or "
        "`header.<name>`, with list indexes as numbers.",
        examples=["body.items.0.quantity"],
    )
    message: str = Field(examples=["Input should be greater than or equal to 1"])
    type: str = Field(
        description="A machine-readable reason (pydantic's error type, or ours).",
        examples=["greater_than_equal"],
    )


class ValidationDetails(BaseModel):
    errors: list[FieldError] = Field(min_length=1)


class ErrorBody(BaseModel):
    """What every error body carries; each kind narrows `code` and `details`."""

    code: str
    message: str = Field(description="For people; not for program logic (it may change).")
    details: BaseModel
    request_id: str | None = Field(
        description="The request's id, as in the `X-Request-ID` header and the server's logs.",
        examples=["6f1c2d0e9b8a4f1e"],
    )


BodyT = TypeVar("BodyT", bound=ErrorBody)


class ErrorEnvelope(BaseModel, Generic[BodyT]):
    http_status: ClassVar[int]

    error: BodyT


ErrorKind = type[ErrorEnvelope[Any]]


# --------------------------------------------------------------------------- plain kinds


class BadRequestBody(ErrorBody):
    code: Literal["BAD_REQUEST"]
    details: NoDetails


class BadRequestError(ErrorEnvelope[BadRequestBody]):
    """The request cannot be read (a body that is not valid JSON, a bad `Content-Length`)."""

    http_status = 400


class UnauthorizedBody(ErrorBody):
    code: Literal["UNAUTHORIZED"]
    details: NoDetails


class UnauthorizedError(ErrorEnvelope[UnauthorizedBody]):
    """No, bad, expired or revoked credentials."""

    http_status = 401


class ForbiddenBody(ErrorBody):
    code: Literal["FORBIDDEN"]
    details: NoDetails


class ForbiddenError(ErrorEnvelope[ForbiddenBody]):
    """Authenticated, but not allowed (a role, or a disabled account)."""

    http_status = 403


class NotFoundBody(ErrorBody):
    code: Literal["NOT_FOUND"]
    details: NoDetails


class NotFoundError(ErrorEnvelope[NotFoundBody]):
    """The resource does not exist, or is not yours."""

    http_status = 404


class RequestTimeoutBody(ErrorBody):
    code: Literal["REQUEST_TIMEOUT"]
    details: NoDetails


class RequestTimeoutError(ErrorEnvelope[RequestTimeoutBody]):
    """The request body did not arrive in time."""

    http_status = 408


class ConflictBody(ErrorBody):
    code: Literal["CONFLICT"]
    details: NoDetails


class ConflictError(ErrorEnvelope[ConflictBody]):
    """The request conflicts with the current state; or a concurrent request won (the
    database undid this one, nothing was written): retry after `Retry-After` seconds."""

    http_status = 409


class PayloadTooLargeDetails(BaseModel):
    model_config = ConfigDict(json_schema_extra=omit_null_from_schema)

    max_bytes: int | None = Field(
        default=None,
        description="The limit, when the body was refused from its `Content-Length`.",
    )


class PayloadTooLargeBody(ErrorBody):
    code: Literal["PAYLOAD_TOO_LARGE"]
    details: PayloadTooLargeDetails


class PayloadTooLargeError(ErrorEnvelope[PayloadTooLargeBody]):
    """The request body is over the configured limit."""

    http_status = 413


class UnsupportedMediaTypeBody(ErrorBody):
    code: Literal["UNSUPPORTED_MEDIA_TYPE"]
    details: NoDetails


class UnsupportedMediaTypeError(ErrorEnvelope[UnsupportedMediaTypeBody]):
    """The body is not of the media type the route reads (JSON, or the OAuth2 form)."""

    http_status = 415


class ValidationFailedBody(ErrorBody):
    code: Literal["VALIDATION_ERROR"]
    details: ValidationDetails


class ValidationFailedError(ErrorEnvelope[ValidationFailedBody]):
    """Bad input: `details.errors` says which fields and why (never echoing their values)."""

    http_status = 422


class RateLimitedBody(ErrorBody):
    code: Literal["RATE_LIMITED"]
    details: NoDetails


class RateLimitedError(ErrorEnvelope[RateLimitedBody]):
    """Too many requests; `Retry-After` says how many seconds to wait."""

    http_status = 429


class InternalBody(ErrorBody):
    code: Literal["INTERNAL_ERROR"]
    details: NoDetails


class InternalError(ErrorEnvelope[InternalBody]):
    """A bug on our side (the log has the request id)."""

    http_status = 500


class ServiceUnavailableBody(ErrorBody):
    code: Literal["SERVICE_UNAVAILABLE"]
    details: NoDetails


class ServiceUnavailableError(ErrorEnvelope[ServiceUnavailableBody]):
    """The database is unreachable, or the password hasher is saturated; retry after
    `Retry-After` seconds."""

    http_status = 503


PLAIN_ERRORS: dict[int, ErrorKind] = {
    kind.http_status: kind
    for kind in (
        BadRequestError,
        UnauthorizedError,
        ForbiddenError,
        NotFoundError,
        RequestTimeoutError,
        ConflictError,
        PayloadTooLargeError,
        UnsupportedMediaTypeError,
        ValidationFailedError,
        RateLimitedError,
        InternalError,
        ServiceUnavailableError,
    )
}


# --------------------------------------------------------------------------- named kinds


class InvalidTokenBody(ErrorBody):
    code: Literal["INVALID_TOKEN"]
    details: NoDetails


class InvalidTokenError(ErrorEnvelope[InvalidTokenBody]):
    """The reset or verification token is unknown, used or expired."""

    http_status = 400


class WrongPasswordBody(ErrorBody):
    code: Literal["WRONG_PASSWORD"]
    details: NoDetails


class WrongPasswordError(ErrorEnvelope[WrongPasswordBody]):
    """The `current_password` given is wrong."""

    http_status = 403
