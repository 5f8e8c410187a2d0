"""SQLAlchemy models of the users domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storefront.core.database import Base, TimestampMixin

# Room for any address; the API accepts at most 254 characters (RFC 5321).
EMAIL_COLUMN_LENGTH = 320
FULL_NAME_MAX_LENGTH = 200


class Role(StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('customer', 'admin')", name="role"),
        # The admin list: newest first, keyset on (created_at, id).
        Index("ix_users_created_at_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Stored normalised (trimmed, lower-cased), so the unique index is case-insensitive.
    email: Mapped[str] = mapped_column(String(EMAIL_COLUMN_LENGTH), unique=True)
    full_name: Mapped[str] = mapped_column(String(FULL_NAME_MAX_LENGTH))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.CUSTOMER.value)
    is_active: Mapped[bool] = mapped_column(default=True)
    is_verified: Mapped[bool] = mapped_column(default=False)
    # Access tokens issued before this instant are refused (logout-all, disable, reset)...
    tokens_valid_after: Mapped[datetime | None] = mapped_column(default=None)
    # ...except those of this login (refresh family): the session that changed the password
    # keeps working while every other one ends.
    kept_login_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    # One-time links (reset, verification) made before the last e-mail change are void.
    email_changed_at: Mapped[datetime | None] = mapped_column(default=None)
