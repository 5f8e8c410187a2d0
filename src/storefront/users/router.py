"""HTTP routes of the users domain: the caller's own account, and user administration."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from storefront.core.database import ReadSessionDep, WriteSessionDep
from storefront.core.email import OutboxDep
from storefront.core.openapi import error_responses
from storefront.core.pagination import Page, PageParamsDep, page_of
from storefront.core.rate_limit import limit_password_check
from storefront.core.responses import json_response
from storefront.users import service
from storefront.users.dependencies import (
    ADMIN_ERRORS,
    CURRENT_USER_ERRORS,
    AdminUser,
    CurrentUser,
    PasswordHasherDep,
)
from storefront.users.errors import (
    EmailTaken,
    LastAdmin,
    PasswordChangedMeanwhile,
    SelfDemotion,
    UserNotFound,
    WrongPassword,
)
from storefront.users.models import Role
from storefront.users.repository import UserFilters
from storefront.users.schemas import (
    AdminUserCreate,
    AdminUserUpdate,
    UserDeleteMe,
    UserRead,
    UserUpdateMe,
)

router = APIRouter(tags=["users"])
admin_router = APIRouter(tags=["admin"])

SearchQuery = Annotated[
    str | None,
    Query(
        min_length=1, max_length=200, description="Case-insensitive substring of e-mail or name."
    ),
]


# --------------------------------------------------------------------------- the caller


@router.get("/me", response_model=UserRead, responses=error_responses(*CURRENT_USER_ERRORS))
async def read_me(user: CurrentUser) -> Response:
    """The caller's account."""
    return json_response(UserRead, user)


@router.patch(
    "/me",
    response_model=UserRead,
    responses=error_responses(
        *CURRENT_USER_ERRORS, WrongPassword, EmailTaken, PasswordChangedMeanwhile
    ),
)
async def update_me(
    data: UserUpdateMe,
    request: Request,
    user: CurrentUser,
    session: WriteSessionDep,
    hasher: PasswordHasherDep,
    outbox: OutboxDep,
) -> UserRead:
    """Change `full_name` and/or `email` (which needs `current_password`, and re-verification;
    the old address is told)."""
    if data.current_password is not None:
        await limit_password_check(request, user.email)
    return UserRead.model_validate(await service.update_me(session, hasher, user.id, data, outbox))


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(
        *CURRENT_USER_ERRORS, WrongPassword, LastAdmin, PasswordChangedMeanwhile
    ),
)
async def close_account(
    data: UserDeleteMe,
    request: Request,
    user: CurrentUser,
    session: WriteSessionDep,
    hasher: PasswordHasherDep,
) -> None:
    """Close the account: deactivated, every session ended; orders are kept. The last active
    administrator cannot close theirs (409)."""
    await limit_password_check(request, user.email)
    await service.deactivate_me(session, hasher, user.id, data.current_password)


# --------------------------------------------------------------------------- admin


@admin_router.get("", response_model=Page[UserRead], responses=error_responses(*ADMIN_ERRORS))
async def list_users(
    _admin: AdminUser,
    session: ReadSessionDep,
    page: PageParamsDep,
    q: SearchQuery = None,
    role: Annotated[Role | None, Query()] = None,
    is_active: Annotated[bool | None, Query()] = None,
) -> Page[UserRead]:
    """Every user, newest first."""
    filters = UserFilters(q=q, role=role.value if role else None, is_active=is_active)
    return page_of(UserRead, await service.list_users(session, filters, page))


@admin_router.post(
    "",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*ADMIN_ERRORS, EmailTaken),
)
async def create_user(
    data: AdminUserCreate, _admin: AdminUser, session: WriteSessionDep, hasher: PasswordHasherDep
) -> UserRead:
    """Create a user with a role."""
    return UserRead.model_validate(await service.create_user(session, hasher, data))


@admin_router.get(
    "/{user_id}", response_model=UserRead, responses=error_responses(*ADMIN_ERRORS, UserNotFound)
)
async def get_user(user_id: uuid.UUID, _admin: AdminUser, session: ReadSessionDep) -> UserRead:
    return UserRead.model_validate(await service.get_user(session, user_id))


@admin_router.patch(
    "/{user_id}",
    response_model=UserRead,
    responses=error_responses(*ADMIN_ERRORS, UserNotFound, SelfDemotion, LastAdmin),
)
async def update_user(
    user_id: uuid.UUID, data: AdminUserUpdate, admin: AdminUser, session: WriteSessionDep
) -> UserRead:
    """Change name, role, activity or verification; disabling ends the user's sessions. The
    last active administrator cannot be demoted or disabled (409)."""
    return UserRead.model_validate(await service.update_user(session, admin.id, user_id, data))
