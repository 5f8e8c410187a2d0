"""HTTP routes of the auth domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status

from storefront.auth.dependencies import AuthServiceDep, ClientInfoDep
from storefront.auth.errors import (
    AccountDisabled,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidToken,
)
from storefront.auth.schemas import (
    Accepted,
    LoginRequest,
    PasswordChange,
    PasswordForgot,
    PasswordReset,
    RefreshTokenRequest,
    RegisterRequest,
    TokenForm,
    TokenPair,
    VerifyEmail,
)
from storefront.core.database import WriteSessionDep
from storefront.core.email import OutboxDep
from storefront.core.openapi import error_responses
from storefront.core.rate_limit import limit_password_check, limit_per_ip, limit_per_key
from storefront.users.dependencies import CURRENT_USER_ERRORS, AccessClaimsDep, CurrentUser
from storefront.users.errors import EmailTaken, PasswordChangedMeanwhile, WrongPassword
from storefront.users.schemas import UserRead

router = APIRouter(tags=["auth"])

_NO_CONTENT = status.HTTP_204_NO_CONTENT
_ACCEPTED = status.HTTP_202_ACCEPTED
_LOGIN_ERRORS = error_responses(InvalidCredentials, AccountDisabled)


@router.post(
    "/register",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(limit_per_ip("register"))],
    responses=error_responses(EmailTaken),
)
async def register(
    data: RegisterRequest, session: WriteSessionDep, auth: AuthServiceDep, outbox: OutboxDep
) -> UserRead:
    """Create a customer account; a verification link is e-mailed."""
    return UserRead.model_validate(await auth.register(session, data, outbox))


@router.post("/login", response_model=TokenPair, responses=_LOGIN_ERRORS)
async def login(
    data: LoginRequest,
    request: Request,
    session: WriteSessionDep,
    auth: AuthServiceDep,
    client: ClientInfoDep,
) -> TokenPair:
    """Exchange an e-mail and password for an access and a refresh token."""
    await limit_password_check(request, data.email)
    return await auth.login(session, data.email, data.password, client)


@router.post("/token", response_model=TokenPair, responses=_LOGIN_ERRORS)
async def login_with_form(
    form: Annotated[TokenForm, Form()],
    request: Request,
    session: WriteSessionDep,
    auth: AuthServiceDep,
    client: ClientInfoDep,
) -> TokenPair:
    """The OAuth2 password grant (`username` = e-mail), as used by the docs' Authorize button."""
    await limit_password_check(request, form.username)
    return await auth.login(session, form.username, form.password, client)


@router.post(
    "/refresh",
    response_model=TokenPair,
    dependencies=[Depends(limit_per_ip("refresh"))],
    responses=error_responses(InvalidRefreshToken),
)
async def refresh_tokens(
    data: RefreshTokenRequest, session: WriteSessionDep, auth: AuthServiceDep, client: ClientInfoDep
) -> TokenPair:
    """New tokens for a refresh token, which dies. Reusing a dead one ends the whole session."""
    return await auth.refresh(session, data.refresh_token, client)


@router.post("/logout", status_code=_NO_CONTENT)
async def logout(data: RefreshTokenRequest, session: WriteSessionDep, auth: AuthServiceDep) -> None:
    """End the session of this refresh token."""
    await auth.logout(session, data.refresh_token)


@router.post(
    "/logout-all", status_code=_NO_CONTENT, responses=error_responses(*CURRENT_USER_ERRORS)
)
async def logout_all(user: CurrentUser, session: WriteSessionDep, auth: AuthServiceDep) -> None:
    """End every session: refresh tokens are revoked, access tokens issued until now refused."""
    await auth.logout_all(session, user.id)


@router.post(
    "/password/change",
    status_code=_NO_CONTENT,
    responses=error_responses(*CURRENT_USER_ERRORS, WrongPassword, PasswordChangedMeanwhile),
)
async def change_password(
    data: PasswordChange,
    request: Request,
    user: CurrentUser,
    claims: AccessClaimsDep,
    session: WriteSessionDep,
    auth: AuthServiceDep,
    outbox: OutboxDep,
) -> None:
    """Set a new password; every other session ends, the caller's keeps working."""
    await limit_password_check(request, user.email)
    await auth.change_password(session, user.id, claims.login_id, data, outbox)


@router.post(
    "/password/forgot",
    status_code=_ACCEPTED,
    response_model=Accepted,
    dependencies=[Depends(limit_per_ip("password_forgot"))],
)
async def forgot_password(
    data: PasswordForgot,
    request: Request,
    session: WriteSessionDep,
    auth: AuthServiceDep,
    outbox: OutboxDep,
) -> Accepted:
    """202 whether or not an account has this address (then a reset link, valid 30 minutes,
    is e-mailed). A few mails an hour per address at most, whether it exists or not."""
    await limit_per_key(request, "account_mail", data.email)
    await auth.forgot_password(session, data.email, outbox)
    return Accepted()


@router.post(
    "/password/reset",
    status_code=_NO_CONTENT,
    responses=error_responses(InvalidToken),
)
async def reset_password(
    data: PasswordReset, session: WriteSessionDep, auth: AuthServiceDep, outbox: OutboxDep
) -> None:
    """Set a new password with the e-mailed token; every session ends."""
    await auth.reset_password(session, data, outbox)


@router.post(
    "/verify/request",
    status_code=_ACCEPTED,
    response_model=Accepted,
    responses=error_responses(*CURRENT_USER_ERRORS),
)
async def request_verification(
    request: Request,
    user: CurrentUser,
    session: WriteSessionDep,
    auth: AuthServiceDep,
    outbox: OutboxDep,
) -> Accepted:
    """E-mail a verification link (nothing is sent when the address is already verified);
    a few an hour per account at most."""
    await limit_per_key(request, "account_mail", user.email)
    await auth.request_verification(session, user.id, outbox)
    return Accepted()


@router.post("/verify", response_model=UserRead, responses=error_responses(InvalidToken))
async def verify_email(
    data: VerifyEmail, session: WriteSessionDep, auth: AuthServiceDep
) -> UserRead:
    """Confirm an e-mail address with the e-mailed token."""
    return UserRead.model_validate(await auth.verify_email(session, data.token))
