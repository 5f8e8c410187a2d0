"""What the auth domain offers the others: the authenticated user, as `Annotated` aliases.

async def my_route(user: CurrentUser) -> ...   # an active user, else 401
async def admin_route(admin: AdminUser) -> ...  # an active admin, else 401 / 403

Both are read-only records (`UserRecord`) read on the fast path: one statement by primary key,
no session, no transaction. A service that changes the user takes its id and loads (and locks)
the row in its own unit of work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from storefront.auth.service import AuthService, ClientInfo
from storefront.core.database import reader_of
from storefront.core.errors import Forbidden, Unauthorized
from storefront.core.rate_limit import client_ip
from storefront.core.security import (
    AccessClaims,
    AccessTokens,
    InvalidAccessToken,
    PasswordHasher,
)
from storefront.users import repository as users_repository
from storefront.users.models import Role, User
from storefront.users.repository import UserRecord

# The docs' Authorize button posts the OAuth2 password form to this route.
bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def access_tokens(request: Request) -> AccessTokens:
    tokens: AccessTokens = request.app.state.access_tokens
    return tokens


def is_token_current(user: User | UserRecord, claims: AccessClaims) -> bool:
    """False for a token issued before the user's `tokens_valid_after`, unless it belongs to
    the session that is kept (the one that changed the password)."""
    if user.tokens_valid_after is None:
        return True
    if claims.issued_at >= user.tokens_valid_after.timestamp():
        return True
    return claims.session_id is not None and claims.session_id == user.kept_session_id


def verified_claims(request: Request, token: str | None) -> AccessClaims:
    if not token:
        raise Unauthorized("Not authenticated")
    try:
        claims = access_tokens(request).decode(token)
    except InvalidAccessToken:
        raise Unauthorized("Invalid or expired access token") from None
    request.state.access_claims = claims
    return claims


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
    user = await users_repository.read_record(reader_of(request), claims.subject)
    if user is None or not user.is_active or not is_token_current(user, claims):
        raise Unauthorized("Invalid or expired access token")
    return user


CurrentUser = Annotated[UserRecord, Depends(get_current_user)]


async def get_admin_user(user: CurrentUser) -> UserRecord:
    if user.role != Role.ADMIN:
        raise Forbidden("Administrator role required")
    return user


AdminUser = Annotated[UserRecord, Depends(get_admin_user)]


async def get_auth_service(request: Request) -> AuthService:
    state = request.app.state
    return AuthService(state.settings, state.password_hasher, state.access_tokens)


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]


async def get_client_info(request: Request) -> ClientInfo:
    return ClientInfo(user_agent=request.headers.get("user-agent"), ip=client_ip(request))


ClientInfoDep = Annotated[ClientInfo, Depends(get_client_info)]


async def get_password_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


PasswordHasherDep = Annotated[PasswordHasher, Depends(get_password_hasher)]
