"""Business rules of the users domain: self-service and administration of accounts."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth import service as auth_service
from storefront.auth.service import EmailTaken
from storefront.core.database import utcnow
from storefront.core.errors import Conflict, NotFound, ValidationFailed, WrongPassword
from storefront.core.pagination import PageParams, Slice
from storefront.core.security import PasswordHasher
from storefront.users import repository
from storefront.users.models import Role, User
from storefront.users.repository import UserFilters
from storefront.users.schemas import AdminUserCreate, AdminUserUpdate, UserUpdateMe

# --------------------------------------------------------------------------- self-service


async def update_me(
    session: AsyncSession, hasher: PasswordHasher, user: User, data: UserUpdateMe
) -> User:
    """Change the name and/or the e-mail; a new e-mail needs the current password and has
    to be verified again."""
    if data.email is not None:
        if data.current_password is None:
            raise ValidationFailed(
                "body.current_password",
                "The current password is required to change the e-mail address",
                type_="missing",
            )
        if not await hasher.verify(data.current_password, user.password_hash):
            raise WrongPassword
    if data.email is not None and data.email != user.email:
        if await repository.email_exists(session, data.email):
            raise EmailTaken
        user.email = data.email
        user.is_verified = False
        await auth_service.forget_email_verifications(session, user, utcnow())
    if data.full_name is not None:
        user.full_name = data.full_name
    try:
        await session.flush()
    except IntegrityError:  # a concurrent change took the address first
        raise EmailTaken from None
    return user


async def deactivate_me(
    session: AsyncSession, hasher: PasswordHasher, user: User, current_password: str
) -> None:
    """Close the account: it is deactivated (orders are kept) and every session ends."""
    if not await hasher.verify(current_password, user.password_hash):
        raise WrongPassword
    user.is_active = False
    await auth_service.end_sessions(session, user, utcnow())


# --------------------------------------------------------------------------- administration


async def list_users(session: AsyncSession, filters: UserFilters, page: PageParams) -> Slice[User]:
    rows = await repository.list_page(session, filters, page.limit, page.cursor)
    return Slice.from_rows(rows, page.limit)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.get_by_id(session, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def create_user(session: AsyncSession, hasher: PasswordHasher, data: AdminUserCreate) -> User:
    return await auth_service.create_user(
        session,
        hasher,
        email=data.email,
        password=data.password,
        full_name=data.full_name,
        role=data.role,
        is_active=data.is_active,
        is_verified=data.is_verified,
    )


async def update_user(
    session: AsyncSession, actor: User, user_id: uuid.UUID, data: AdminUserUpdate
) -> User:
    """Change a user's name, role, activity or verification. Administrators cannot demote or
    disable themselves (the last admin would lock everyone out); disabling ends sessions."""
    user = await get_user(session, user_id)
    if user.id == actor.id and (
        (data.role is not None and data.role != Role.ADMIN) or data.is_active is False
    ):
        raise Conflict("Administrators cannot demote or disable themselves")
    if data.full_name is not None:
        user.full_name = data.full_name
    if data.role is not None:
        user.role = data.role.value
    if data.is_verified is not None:
        user.is_verified = data.is_verified
    if data.is_active is not None and data.is_active != user.is_active:
        user.is_active = data.is_active
        if not data.is_active:
            await auth_service.end_sessions(session, user, utcnow())
    await session.flush()
    return user
