"""`storefront create-admin`: how ops create the first administrator (or promote a user)."""

from __future__ import annotations

import sys

from pydantic import TypeAdapter, ValidationError

from storefront.auth import service as auth_service
from storefront.core.config import Settings
from storefront.core.database import create_database
from storefront.core.security import PasswordHasher
from storefront.users import repository
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

    hasher = PasswordHasher(settings.bcrypt_rounds)
    database = create_database(settings)
    try:
        async with database.sessionmaker() as session:
            user = await repository.get_by_email(session, valid_email)
            if user is None:
                await auth_service.create_user(
                    session,
                    hasher,
                    email=valid_email,
                    password=valid_password,
                    full_name=valid_name or DEFAULT_FULL_NAME,
                    role=Role.ADMIN,
                    is_verified=True,
                )
                outcome = "created"
            else:
                user.role = Role.ADMIN.value
                user.is_active = True
                user.password_hash = await hasher.hash(valid_password)
                if valid_name:
                    user.full_name = valid_name
                outcome = "promoted"
            await session.commit()
    finally:
        hasher.close()
        await database.dispose()
    print(f"admin {valid_email} {outcome}")  # noqa: T201
    return 0
