"""The pieces of the error envelope's schema that every kind of error shares: the body's fields,
and the `details` shapes of the kinds in `core/errors.py`.

Each `AppError` class names its `details_model`; `core/openapi.py` turns every class a route
declares into one schema per error code, so a generated client types `details` exactly
(`details.errors` on a 422, `{}` where there is nothing to add) and narrows on `code`.
"""

from __future__ import annotations

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


class PayloadTooLargeDetails(BaseModel):
    model_config = ConfigDict(json_schema_extra=omit_null_from_schema)

    max_bytes: int | None = Field(
        default=None,
        description="The limit, when the body was refused from its `Content-Length`.",
    )


class ErrorBody(BaseModel):
    """What every error body carries; each kind narrows `code` and `details`."""

    code: str
    message: str = Field(description="For people; not for program logic (it may change).")
    details: BaseModel
    request_id: str | None = Field(
        description="The request's id, as in the `X-Request-ID` header and the server's logs.",
        examples=["6f1c2d0e9b8a4f1e"],
    )
