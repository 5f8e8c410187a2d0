"""Business rules of the users domain: the account — who a user is, their password hash, their
role, and whether their logins still stand.

The users domain knows nothing of tokens. Every action that ends a user's logins (closing the
account, an admin disabling it, and the auth domain's logout-all, password change and reset)
writes one signal on the user's row, `tokens_valid_after` (and `kept_login_id`, the login a
password change keeps); the auth domain reads it on every access token and every refresh.
Every change to a user's row that touches a login-ending field locks the row first.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from storefront.core.database import ReadSession, WriteSession, release_connection, utcnow
from storefront.core.email import EmailMessage, Outbox
from storefront.core.errors import ValidationFailed
from storefront.core.pagination import PageParams, Slice
from storefront.core.reads import Reader
from storefront.core.security import AccessClaims, PasswordHasher
from storefront.users import repository
from storefront.users.errors import (
    AccessTokenRefused,
    EmailTaken,
    LastAdmin,
    PasswordChangedMeanwhile,
    SelfDemotion,
    UserNotFound,
    WrongPassword,
)
from storefront.users.models import Role, User
from storefront.users.repository import UserFilters, UserRecord
from storefront.users.schemas import AdminUserCreate, AdminUserUpdate, UserUpdateMe

__all__ = ["UserFilters", "UserRecord"]  # the types of this module's signatures


# --------------------------------------------------------------------------- reading


async def read_user(reader: Reader, user_id: uuid.UUID) -> UserRecord | None:
    """The user by id, on the fast read path (the caller of every authenticated request)."""
    return await repository.read_record(reader, user_id)


def is_token_current(user: UserRecord, claims: AccessClaims) -> bool:
    """False for an access token issued before the user's `tokens_valid_after`, unless it
    belongs to the login that is kept (the one that changed the password)."""
    if user.tokens_valid_after is None:
        return True
    if claims.issued_at >= user.tokens_valid_after.timestamp():
        return True
    return claims.login_id is not None and claims.login_id == user.kept_login_id


def login_has_ended(user: User, login_id: uuid.UUID, login_at: datetime) -> bool:
    """True once the user ended every login made before `tokens_valid_after` (but the kept
    one): what a refresh of the login `login_id`, signed in at `login_at`, must check."""
    if user.tokens_valid_after is None or login_at >= user.tokens_valid_after:
        return False
    return login_id != user.kept_login_id


async def find_by_email(session: ReadSession, email: str) -> User | None:
    """`email` must be normalised (trimmed, lower-cased), as it is stored."""
    return await repository.get_by_email(session, email)


async def get_user(session: ReadSession, user_id: uuid.UUID) -> User:
    user = await repository.get_by_id(session, user_id)
    if user is None:
        raise UserNotFound
    return user


async def lock_user(session: WriteSession, user_id: uuid.UUID) -> User | None:
    """The user's row, locked until the end of the transaction, with its committed values."""
    return await repository.lock(session, user_id)


async def list_users(session: ReadSession, filters: UserFilters, page: PageParams) -> Slice[User]:
    rows = await repository.list_page(session, filters, page.limit, page.cursor)
    return Slice.from_rows(rows, page.limit)


# --------------------------------------------------------------------------- credentials


def greeting(user: User) -> str:
    """Mail to an address nobody has proven yet carries no text the registrant chose."""
    return f"Hello {user.full_name}," if user.is_verified else "Hello,"


def end_logins(user: User, now: datetime, *, keep_login_id: uuid.UUID | None = None) -> None:
    """End every login of `user` (whose row the caller has locked) but `keep_login_id`'s:
    access tokens issued before `now` stop working, and so does every refresh of those
    logins."""
    user.tokens_valid_after = now
    user.kept_login_id = keep_login_id


async def create_account(
    session: WriteSession,
    hasher: PasswordHasher,
    *,
    email: str,
    password: str,
    full_name: str,
    role: Role = Role.CUSTOMER,
    is_active: bool = True,
    is_verified: bool = False,
) -> User:
    """A new account; 409 `EMAIL_TAKEN` when the (normalised) address is in use. The hash is
    made while no connection is held."""
    if await repository.email_exists(session, email):
        raise EmailTaken
    await release_connection(session)
    user = User(
        email=email,
        full_name=full_name,
        password_hash=await hasher.hash(password),
        role=role.value,
        is_active=is_active,
        is_verified=is_verified,
    )
    try:
        return await repository.add(session, user)
    except IntegrityError:  # a concurrent registration won the unique index
        raise EmailTaken from None


async def check_current_password(
    session: WriteSession, hasher: PasswordHasher, user_id: uuid.UUID, password: str
) -> str:
    """Check a `current_password` against the stored hash without holding a connection while
    bcrypt runs; the hash that matched (for `lock_unchanged_user`). 403 `WRONG_PASSWORD`."""
    user = await repository.get_by_id(session, user_id)
    if user is None:
        raise AccessTokenRefused
    password_hash = user.password_hash
    await release_connection(session)
    if not await hasher.verify(password, password_hash):
        raise WrongPassword
    return password_hash


async def lock_unchanged_user(session: WriteSession, user_id: uuid.UUID, checked_hash: str) -> User:
    """The user's row, locked, provided its password is still the one just checked."""
    user = await repository.lock(session, user_id)
    if user is None or not user.is_active:
        raise AccessTokenRefused
    if user.password_hash != checked_hash:
        raise PasswordChangedMeanwhile
    return user


async def replace_password_hash(
    session: WriteSession, user_id: uuid.UUID, old_hash: str, new_hash: str
) -> bool:
    """Compare-and-set (a re-hash at a new cost): False if the hash changed meanwhile."""
    return await repository.replace_password_hash(session, user_id, old_hash, new_hash)


# --------------------------------------------------------------------------- self-service


async def update_me(
    session: WriteSession,
    hasher: PasswordHasher,
    user_id: uuid.UUID,
    data: UserUpdateMe,
    outbox: Outbox,
) -> User:
    """Change the name and/or the e-mail. A new e-mail needs the current password, has to be
    verified again, voids every link mailed to the old address, and the old address is told."""
    if data.email is not None:
        if data.current_password is None:
            raise ValidationFailed.of_field(
                "body.current_password",
                "The current password is required to change the e-mail address",
                type_="missing",
            )
        checked_hash = await check_current_password(session, hasher, user_id, data.current_password)
        user = await lock_unchanged_user(session, user_id, checked_hash)
    else:
        user = await _lock_active(session, user_id)
    if data.email is not None and data.email != user.email:
        await _change_email(session, user, data.email, outbox)
    if data.full_name is not None:
        user.full_name = data.full_name
    try:
        await repository.flush(session)
    except IntegrityError:  # a concurrent change took the address first
        raise EmailTaken from None
    return user


async def _change_email(session: WriteSession, user: User, email: str, outbox: Outbox) -> None:
    """The new address, unproven; `email_changed_at` voids every one-time link made before."""
    if await repository.email_exists(session, email):
        raise EmailTaken
    outbox.put(
        EmailMessage(
            to=user.email,
            subject="Your Storefront e-mail address was changed",
            text=(
                f"{greeting(user)}\n\nThe e-mail address of your Storefront account was just "
                f"changed to {email}. Links we mailed to this address no longer work.\n\n"
                "If this was not you, contact support.\n"
            ),
        )
    )
    user.email = email
    user.is_verified = False
    user.email_changed_at = utcnow()


async def deactivate_me(
    session: WriteSession, hasher: PasswordHasher, user_id: uuid.UUID, current_password: str
) -> None:
    """Close the account: it is deactivated (orders are kept) and every login ends. The last
    active admin cannot close theirs."""
    checked_hash = await check_current_password(session, hasher, user_id, current_password)
    # Admin rows are locked before the user's own (one order everywhere: no deadlocks).
    admins = await repository.lock_active_admins(session)
    user = await lock_unchanged_user(session, user_id, checked_hash)
    if user.role == Role.ADMIN:
        _keep_an_admin(admins, leaving_id=user.id)
    user.is_active = False
    end_logins(user, utcnow())


async def _lock_active(session: WriteSession, user_id: uuid.UUID) -> User:
    user = await repository.lock(session, user_id)
    if user is None or not user.is_active:
        raise AccessTokenRefused
    return user


def _keep_an_admin(active_admins: list[uuid.UUID], *, leaving_id: uuid.UUID) -> None:
    """409 unless another active admin remains once `leaving_id` stops being one. The caller
    locked the active admins' rows (`lock_active_admins`) before any other user row, so two
    admins removing each other at once queue there, and the second sees what the first did."""
    if not [admin_id for admin_id in active_admins if admin_id != leaving_id]:
        raise LastAdmin


# --------------------------------------------------------------------------- administration


async def create_user(session: WriteSession, hasher: PasswordHasher, data: AdminUserCreate) -> User:
    return await create_account(
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
    session: WriteSession, actor_id: uuid.UUID, user_id: uuid.UUID, data: AdminUserUpdate
) -> User:
    """Change a user's name, role, activity or verification. Administrators cannot demote or
    disable themselves, nor the last active admin; disabling ends the user's logins."""
    removes_an_admin = (data.role is not None and data.role != Role.ADMIN) or (
        data.is_active is False
    )
    if user_id == actor_id and removes_an_admin:
        raise SelfDemotion
    # Admin rows are locked before the user's own (one order everywhere: no deadlocks).
    admins = await repository.lock_active_admins(session) if removes_an_admin else []
    user = await repository.lock(session, user_id)
    if user is None:
        raise UserNotFound
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
            end_logins(user, utcnow())
    await repository.flush(session)
    return user
