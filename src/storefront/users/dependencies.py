"""What the users domain offers the others: the authenticated user, as `Annotated` aliases.

    async def my_route(user: CurrentUser) -> ...   # an active user, else 401
    async def admin_route(admin: AdminUser) -> ...  # an active admin, else 401 / 403

Both are read-only records (`UserRecord`) read on the fast path: one statement by primary key,
no session, no transaction. A service that changes the user takes its id and loads (and locks)
the row in its own unit of work.

A token stops working the moment its user is disabled or ends their logins: the user row is
read on every request, and `tokens_valid_after` (with `kept_login_id`, the login a password
change keeps) is the one signal every login-ending action writes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from storefront.core.database import reader_of
from storefront.core.security import AccessClaims, AccessTokens, InvalidAccessToken, PasswordHasher
from storefront.users import service
from storefront.users.errors import AccessTokenRefused, AdminRequired, NotAuthenticated
from storefront.users.models import Role
from storefront.users.service import UserRecord

# The docs' Authorize button posts the OAuth2 password form to this route.
bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def verified_claims(request: Request, token: str | None) -> AccessClaims:
    if not token:
        raise NotAuthenticated
    tokens: AccessTokens = request.app.state.access_tokens
    try:
        return tokens.decode(token)
    except InvalidAccessToken:
        raise AccessTokenRefused from None


async def get_access_claims(
    request: Request, token: Annotated[str | None, Depends(bearer_scheme)]
) -> AccessClaims:
    return verified_claims(request, token)


AccessClaimsDep = Annotated[AccessClaims, Depends(get_access_claims)]


async def get_current_user(
    request: Request, token: Annotated[str | None, Depends(bearer_scheme)]
) -> UserRecord:
    """The caller's user row, read on every request: a disabled user or a revoked token
    fails at once, whatever the token's lifetime. (The token is checked here rather than
    through `get_access_claims`: one dependency step less on every authenticated request.)"""
    claims = verified_claims(request, token)
    user = await service.read_user(reader_of(request), claims.subject)
    if user is None or not user.is_active or not service.is_token_current(user, claims):
        raise AccessTokenRefused
    return user


CurrentUser = Annotated[UserRecord, Depends(get_current_user)]


async def get_admin_user(user: CurrentUser) -> UserRecord:
    if user.role != Role.ADMIN:
        raise AdminRequired
    return user


AdminUser = Annotated[UserRecord, Depends(get_admin_user)]

# What a route that takes `CurrentUser` or `AdminUser` may answer because of it (its OpenAPI
# `responses`, with `core.openapi.error_responses`).
CURRENT_USER_ERRORS = (NotAuthenticated, AccessTokenRefused)
ADMIN_ERRORS = (*CURRENT_USER_ERRORS, AdminRequired)


async def get_password_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


PasswordHasherDep = Annotated[PasswordHasher, Depends(get_password_hasher)]
