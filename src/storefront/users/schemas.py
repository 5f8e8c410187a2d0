"""Pydantic models of the users API, and the field types the auth API shares."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from storefront.core.schema_types import (
    PRINTABLE_NON_BLANK_PATTERN,
    PartialUpdate,
    omit_null_from_schema,
)
from storefront.users.models import FULL_NAME_MAX_LENGTH, Role

EMAIL_MAX_LENGTH = 254  # RFC 5321's limit on a forward path
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128


def normalise_email(value: str) -> str:
    """Trimmed and lower-cased: the form every e-mail is stored and looked up in."""
    return value.strip(" ").lower()


# What the OpenAPI document promises is exactly what is accepted, so e-mail addresses are
# checked by one pattern (a dot-atom local part, a domain of hostname labels with an
# alphabetic top-level label), surrounding spaces allowed, instead of a validator whose rules a
# client could not know. Normalised after the check.
EMAIL_PATTERN = (
    r"^ *[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63} *$"
)

# An address to store: checked, then normalised.
Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=EMAIL_MAX_LENGTH, pattern=EMAIL_PATTERN),
    AfterValidator(normalise_email),
    Field(examples=["ada@example.com"]),
]
# An address to look up (login, forgot): normalised only; an address that cannot exist simply
# matches nobody, which keeps the answer the same as for an unknown one.
EmailLookup = Annotated[
    str,
    StringConstraints(min_length=1, max_length=EMAIL_MAX_LENGTH),
    AfterValidator(normalise_email),
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
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=FULL_NAME_MAX_LENGTH,
        pattern=PRINTABLE_NON_BLANK_PATTERN,
    ),
]
StrictBool = Annotated[bool, Field(strict=True)]


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


def _update_me_schema(schema: dict[str, Any]) -> None:
    omit_null_from_schema(schema)
    schema["dependentRequired"] = {"email": ["current_password"]}


class UserUpdateMe(PartialUpdate):
    """`full_name` and/or `email`; `email` needs `current_password`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_update_me_schema)

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


class AdminUserUpdate(PartialUpdate):
    full_name: FullName | None = None
    role: Role | None = None
    is_active: StrictBool | None = None
    is_verified: StrictBool | None = None
