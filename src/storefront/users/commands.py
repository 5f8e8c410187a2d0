"""`storefront create-admin`: how ops create the first administrator (or promote a user)."""

from __future__ import annotations

import sys

from pydantic import TypeAdapter, ValidationError

from storefront.core.config import Settings
from storefront.core.database import WriteSession, create_database, utcnow
from storefront.core.security import PasswordHasher
from storefront.users import service
from storefront.users.models import Role
from storefront.users.schemas import Email, FullName, NewPassword

DEFAULT_FULL_NAME = "Administrator"


def _valid(adapter: TypeAdapter[str], value: str, what: str) -> str | None:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        print(f"invalid {what}: {reason}", file=sys.stderr)  # noqa: T201
        return None


async def create_admin(settings: Settings, email: str, password: str, full_name: str | None) -> int:
    """Create an active, verified admin; for an existing e-mail, promote that account and set
    the password (and the name, when given) instead. Exit status: 0, or 2 for bad input."""
    valid_email = _valid(TypeAdapter(Email), email, "e-mail")
    valid_password = _valid(TypeAdapter(NewPassword), password, "password")
    valid_name = _valid(TypeAdapter(FullName), full_name, "full name") if full_name else None
    if valid_email is None or valid_password is None or (full_name and valid_name is None):
        return 2

    hasher = PasswordHasher.from_settings(settings)
    database = create_database(settings)
    try:
        async with database.unit_of_work() as session:
            outcome = await _create_or_promote(
                session, hasher, valid_email, valid_password, valid_name
            )
    finally:
        hasher.close()
        await database.dispose()
    print(f"admin {valid_email} {outcome}")  # noqa: T201
    return 0


async def _create_or_promote(
    session: WriteSession,
    hasher: PasswordHasher,
    email: str,
    password: str,
    full_name: str | None,
) -> str:
    """A new active, verified admin; or the existing account promoted, re-enabled, with the new
    password, and, as a password reset through the API would, every login of it ended."""
    user = await service.find_by_email(session, email)
    if user is None:
        await service.create_account(
            session,
            hasher,
            email=email,
            password=password,
            full_name=full_name or DEFAULT_FULL_NAME,
            role=Role.ADMIN,
            is_verified=True,
        )
        return "created"
    new_hash = await hasher.hash(password)
    user = await service.lock_user(session, user.id)
    if user is None:  # deleted meanwhile: nothing to promote
        raise SystemExit(1)
    user.role = Role.ADMIN.value
    user.is_active = True
    user.password_hash = new_hash
    if full_name:
        user.full_name = full_name
    service.end_logins(user, utcnow())
    return "promoted"
