"""Pydantic models of the users API, and the field types the auth API shares."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from storefront.users.models import EMAIL_MAX_LENGTH, FULL_NAME_MAX_LENGTH, Role

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128


def normalise_email(value: str) -> str:
    """Trimmed and lower-cased: the form every e-mail is stored and looked up in."""
    return value.strip().lower()


def _valid_email(value: str) -> str:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {exc}") from None
    return value


# An address to store: normalised, then validated.
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=3, max_length=EMAIL_MAX_LENGTH
    ),
    AfterValidator(_valid_email),
    Field(examples=["ada@example.com"]),
]
# An address to look up (login, forgot): normalised only; an address that cannot exist simply
# matches nobody, which keeps the answer the same as for an unknown one.
EmailLookup = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=1, max_length=EMAIL_MAX_LENGTH
    ),
    Field(examples=["ada@example.com"]),
]
# 8-128 characters of any Unicode; every character counts (see core.security).
NewPassword = Annotated[
    str,
    Field(
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        json_schema_extra={"format": "password", "writeOnly": True},
    ),
]
# A password to check against the stored one: no length rule beyond the maximum.
CurrentPassword = Annotated[
    str,
    Field(
        min_length=1,
        max_length=PASSWORD_MAX_LENGTH,
        json_schema_extra={"format": "password", "writeOnly": True},
    ),
]
FullName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=FULL_NAME_MAX_LENGTH)
]
StrictBool = Annotated[bool, Field(strict=True)]


class _NoNulls(BaseModel):
    """For PATCH bodies: an omitted field is unchanged; a field sent as null is a 422."""

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    is_verified: bool
    created_at: datetime
    updated_at: datetime


class UserUpdateMe(_NoNulls):
    """`full_name` and/or `email`; an e-mail change needs `current_password`."""

    model_config = ConfigDict(extra="forbid")

    full_name: FullName | None = None
    email: Email | None = None
    current_password: CurrentPassword | None = None


class UserDeleteMe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: CurrentPassword


class AdminUserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: NewPassword
    full_name: FullName
    role: Role = Role.CUSTOMER
    is_active: StrictBool = True
    is_verified: StrictBool = False


class AdminUserUpdate(_NoNulls):
    model_config = ConfigDict(extra="forbid")

    full_name: FullName | None = None
    role: Role | None = None
    is_active: StrictBool | None = None
    is_verified: StrictBool | None = None
