"""The errors of the auth domain: what a client is told about credentials and tokens."""

from __future__ import annotations

from storefront.core.errors import BadRequest, Forbidden, Unauthorized


class InvalidCredentials(Unauthorized):
    """One answer whether the e-mail exists or not."""

    message = "Invalid email or password"


class AccountDisabled(Forbidden):
    message = "This account is disabled"


class InvalidRefreshToken(Unauthorized):
    message = "Invalid or expired refresh token"


class RefreshTokenReused(InvalidRefreshToken):
    """A rotated refresh token came back: someone holds a copy. The login it belongs to is
    revoked, and that revocation is kept although the request fails."""

    keeps_writes = True


class InvalidToken(BadRequest):
    """The reset or verification token is unknown, used, expired, or was mailed to another
    address than the account's."""

    code, message = "INVALID_TOKEN", "The token is invalid or expired"
