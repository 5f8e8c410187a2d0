"""Business rules of the users domain: self-service and administration of accounts."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth import service as auth_service
from storefront.auth.service import EmailTaken
from storefront.core.database import utcnow
from storefront.core.email import EmailMessage, Outbox
from storefront.core.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from storefront.core.pagination import PageParams, Slice
from storefront.core.security import PasswordHasher
from storefront.users import repository
from storefront.users.models import Role, User
from storefront.users.repository import UserFilters
from storefront.users.schemas import AdminUserCreate, AdminUserUpdate, UserUpdateMe


class LastAdmin(Conflict):
    message = "The last active administrator cannot be removed, demoted or disabled"


# --------------------------------------------------------------------------- self-service


async def update_me(
    session: AsyncSession,
    hasher: PasswordHasher,
    user_id: uuid.UUID,
    data: UserUpdateMe,
    outbox: Outbox,
) -> User:
    """Change the name and/or the e-mail. A new e-mail needs the current password, has to be
    verified again, voids every link mailed to the old address, and the old address is told."""
    checked_hash = None
    if data.email is not None:
        if data.current_password is None:
            raise ValidationFailed(
                "body.current_password",
                "The current password is required to change the e-mail address",
                type_="missing",
            )
        checked_hash = await auth_service.check_current_password(
            session, hasher, user_id, data.current_password
        )
        user = await auth_service.lock_unchanged_user(session, user_id, checked_hash)
    else:
        user = await _lock_active(session, user_id)
    if data.email is not None and data.email != user.email:
        await _change_email(session, user, data.email, outbox)
    if data.full_name is not None:
        user.full_name = data.full_name
    try:
        await session.flush()
    except IntegrityError:  # a concurrent change took the address first
        raise EmailTaken from None
    return user


async def _change_email(session: AsyncSession, user: User, email: str, outbox: Outbox) -> None:
    if await repository.email_exists(session, email):
        raise EmailTaken
    now = utcnow()
    outbox.put(
        EmailMessage(
            to=user.email,
            subject="Your Storefront e-mail address was changed",
            text=(
                f"{auth_service.greeting(user)}\n\nThe e-mail address of your Storefront account "
                f"was just changed to {email}. Links we mailed to this address no longer work."
                "\n\nIf this was not you, contact support.\n"
            ),
        )
    )
    user.email = email
    user.is_verified = False
    user.email_changed_at = now
    await auth_service.forget_one_time_links(session, user, now)


async def deactivate_me(
    session: AsyncSession, hasher: PasswordHasher, user_id: uuid.UUID, current_password: str
) -> None:
    """Close the account: it is deactivated (orders are kept) and every login ends. The last
    active admin cannot close theirs."""
    checked_hash = await auth_service.check_current_password(
        session, hasher, user_id, current_password
    )
    # Admin rows are locked before the user's own (one order everywhere: no deadlocks).
    admins = await repository.lock_active_admins(session)
    user = await auth_service.lock_unchanged_user(session, user_id, checked_hash)
    if user.role == Role.ADMIN:
        _keep_an_admin(admins, leaving_id=user.id)
    user.is_active = False
    await auth_service.end_sessions(session, user, utcnow())


async def _lock_active(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.lock(session, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Invalid or expired access token")
    return user


def _keep_an_admin(active_admins: list[uuid.UUID], *, leaving_id: uuid.UUID) -> None:
    """409 unless another active admin remains once `leaving_id` stops being one. The caller
    locked the active admins' rows (`lock_active_admins`) before any other user row, so two
    admins removing each other at once queue there, and the second sees what the first did."""
    if not [admin_id for admin_id in active_admins if admin_id != leaving_id]:
        raise LastAdmin


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
    session: AsyncSession, actor_id: uuid.UUID, user_id: uuid.UUID, data: AdminUserUpdate
) -> User:
    """Change a user's name, role, activity or verification. Administrators cannot demote or
    disable themselves, nor the last active admin; disabling ends the user's logins."""
    if user_id == actor_id and (
        (data.role is not None and data.role != Role.ADMIN) or data.is_active is False
    ):
        raise Conflict("Administrators cannot demote or disable themselves")
    removes_an_admin = (data.role is not None and data.role != Role.ADMIN) or (
        data.is_active is False
    )
    # Admin rows are locked before the user's own (one order everywhere: no deadlocks).
    admins = await repository.lock_active_admins(session) if removes_an_admin else []
    user = await repository.lock(session, user_id)
    if user is None:
        raise NotFound("User not found")
    if removes_an_admin and user.role == Role.ADMIN and user.is_active:
        _keep_an_admin(admins, leaving_id=user.id)
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
