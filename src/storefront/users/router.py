"""HTTP routes of the users domain: the caller's own account, and user administration."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from storefront.auth.dependencies import AdminUser, CurrentUser, PasswordHasherDep
from storefront.auth.schemas import EmailTakenError
from storefront.core.database import SessionDep
from storefront.core.email import OutboxDep
from storefront.core.error_schemas import WrongPasswordError
from storefront.core.openapi import error_responses
from storefront.core.pagination import Page, PageParamsDep, page_of
from storefront.core.rate_limit import limit_password_check
from storefront.core.responses import json_response
from storefront.users import service
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


@router.get("/me", response_model=UserRead, responses=error_responses(401))
async def read_me(user: CurrentUser) -> Response:
    """The caller's account."""
    return json_response(UserRead, user)


@router.patch(
    "/me",
    response_model=UserRead,
    responses=error_responses(401, WrongPasswordError, EmailTakenError, 409),
)
async def update_me(
    data: UserUpdateMe,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
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
    responses=error_responses(401, WrongPasswordError, 409),
)
async def close_account(
    data: UserDeleteMe,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    hasher: PasswordHasherDep,
) -> None:
    """Close the account: deactivated, every session ended; orders are kept. The last active
    administrator cannot close theirs (409)."""
    await limit_password_check(request, user.email)
    await service.deactivate_me(session, hasher, user.id, data.current_password)


# --------------------------------------------------------------------------- admin

_ADMIN_ERRORS = (401, 403)


@admin_router.get("", response_model=Page[UserRead], responses=error_responses(*_ADMIN_ERRORS))
async def list_users(
    _admin: AdminUser,
    session: SessionDep,
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
    responses=error_responses(*_ADMIN_ERRORS, EmailTakenError),
)
async def create_user(
    data: AdminUserCreate, _admin: AdminUser, session: SessionDep, hasher: PasswordHasherDep
) -> UserRead:
    """Create a user with a role."""
    return UserRead.model_validate(await service.create_user(session, hasher, data))


@admin_router.get(
    "/{user_id}", response_model=UserRead, responses=error_responses(*_ADMIN_ERRORS, 404)
)
async def get_user(user_id: uuid.UUID, _admin: AdminUser, session: SessionDep) -> UserRead:
    return UserRead.model_validate(await service.get_user(session, user_id))


@admin_router.patch(
    "/{user_id}", response_model=UserRead, responses=error_responses(*_ADMIN_ERRORS, 404, 409)
)
async def update_user(
    user_id: uuid.UUID, data: AdminUserUpdate, admin: AdminUser, session: SessionDep
) -> UserRead:
    """Change name, role, activity or verification; disabling ends the user's sessions. The
    last active administrator cannot be demoted or disabled (409)."""
    return UserRead.model_validate(await service.update_user(session, admin.id, user_id, data))
