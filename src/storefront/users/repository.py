"""Every query of the users domain. Repositories flush, they never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import bindparam, or_, select, update

from storefront.core.database import ReadSession, WriteSession
from storefront.core.pagination import Cursor, Keyset, keyset_params
from storefront.core.reads import Reader, ReadQuery
from storefront.users.models import Role, User


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user row as read on the fast path: read-only, every column but the password hash."""

    id: uuid.UUID
    email: str
    full_name: str
    role: str
    is_active: bool
    is_verified: bool
    tokens_valid_after: datetime | None
    kept_login_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


_RECORD_COLUMNS = [User.__table__.c[field.name] for field in fields(UserRecord)]
_RECORD_BY_ID = ReadQuery(select(*_RECORD_COLUMNS).where(User.id == bindparam("user_id")))
_KEYSET = Keyset(User.__table__.c.created_at, User.__table__.c.id)


@dataclass(frozen=True, slots=True)
class UserFilters:
    q: str | None = None
    role: str | None = None
    is_active: bool | None = None


async def get_by_id(session: ReadSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def lock(session: WriteSession, user_id: uuid.UUID) -> User | None:
    """The user's row, locked until the end of the transaction (`SELECT ... FOR UPDATE` on
    PostgreSQL; SQLite serialises writers), and refreshed: whatever the session loaded
    earlier, the values are the committed ones as of the lock."""
    return await session.scalar(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def lock_active_admins(session: WriteSession) -> list[uuid.UUID]:
    """The ids of every active admin, their rows locked in id order (no deadlocks)."""
    rows = await session.scalars(
        select(User.id)
        .where(User.role == Role.ADMIN.value, User.is_active.is_(True))
        .order_by(User.id)
        .with_for_update()
    )
    return list(rows)


async def replace_password_hash(
    session: WriteSession, user_id: uuid.UUID, old_hash: str, new_hash: str
) -> bool:
    """Compare-and-set: False if the hash changed since `old_hash` was read."""
    result = await session.execute(
        update(User)
        .where(User.id == user_id, User.password_hash == old_hash)
        .values(password_hash=new_hash)
        .returning(User.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def read_record(reader: Reader, user_id: uuid.UUID) -> UserRecord | None:
    """The user by primary key, on the fast read path (one statement, no transaction)."""
    row = await reader.first(_RECORD_BY_ID, user_id=user_id)
    return None if row is None else UserRecord(**row)


async def get_by_email(session: ReadSession, email: str) -> User | None:
    """`email` must already be normalised (it is stored that way)."""
    return await session.scalar(select(User).where(User.email == email))


async def email_exists(session: ReadSession, email: str) -> bool:
    return await session.scalar(select(User.id).where(User.email == email)) is not None


async def flush(session: WriteSession) -> None:
    await session.flush()


async def add(session: WriteSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user


async def list_page(
    session: ReadSession, filters: UserFilters, limit: int, cursor: Cursor | None
) -> Sequence[User]:
    """`limit + 1` users, newest first, after `cursor`."""
    query = select(User)
    if filters.q:
        query = query.where(
            or_(
                User.email.icontains(filters.q, autoescape=True),
                User.full_name.icontains(filters.q, autoescape=True),
            )
        )
    if filters.role is not None:
        query = query.where(User.role == filters.role)
    if filters.is_active is not None:
        query = query.where(User.is_active.is_(filters.is_active))
    query = _KEYSET.page(query, after_cursor=cursor is not None)
    return (await session.scalars(query, keyset_params(limit, cursor))).all()
