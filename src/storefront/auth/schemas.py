"""Pydantic models of the auth API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from storefront.users.schemas import CurrentPassword, Email, EmailLookup, FullName, NewPassword

# Opaque tokens are 43 URL-safe characters; the bound only keeps garbage short.
OpaqueToken = Annotated[
    str, Field(min_length=1, max_length=512, json_schema_extra={"writeOnly": True})
]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: NewPassword
    full_name: FullName


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailLookup
    password: CurrentPassword


class TokenForm(BaseModel):
    """The OAuth2 password grant form (RFC 6749 §4.3), as the docs' Authorize button posts it."""

    grant_type: Annotated[Literal["password"] | None, Field()] = None
    username: EmailLookup
    password: CurrentPassword
    scope: Annotated[str, Field(max_length=1000)] = ""
    client_id: Annotated[str | None, Field(max_length=255)] = None
    client_secret: Annotated[
        str | None, Field(max_length=255, json_schema_extra={"writeOnly": True})
    ] = None


class TokenPair(BaseModel):
    # The document marks `token_type` required: it is always sent, default or not.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int = Field(description="Lifetime of the access token, in seconds")


class RefreshTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: OpaqueToken


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: CurrentPassword
    new_password: NewPassword


class PasswordForgot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailLookup


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: OpaqueToken
    new_password: NewPassword


class VerifyEmail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: OpaqueToken


class Accepted(BaseModel):
    """A 202: the request was taken; what it causes (a mail) happens later, or not at all."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    status: Literal["accepted"] = "accepted"
