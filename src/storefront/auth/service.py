"""Business rules of authentication: accounts' credentials, sessions and one-time tokens.

A *session* is one login: a family of refresh tokens, each used once and replaced by the
next. Access tokens carry the family id as `sid`, so "end every other session" can keep the
caller's. Ending sessions sets the user's `tokens_valid_after`, which the access-token check
reads on every request, and revokes the refresh tokens in the database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.auth import repository
from storefront.auth.models import OneTimeToken, RefreshToken, TokenPurpose
from storefront.auth.schemas import PasswordChange, PasswordReset, RegisterRequest, TokenPair
from storefront.core.config import Settings
from storefront.core.database import utcnow
from storefront.core.email import EmailMessage, Outbox
from storefront.core.errors import Conflict, Forbidden, InvalidToken, Unauthorized, WrongPassword
from storefront.core.logging import get_logger
from storefront.core.security import (
    AccessClaims,
    AccessTokens,
    PasswordHasher,
    hash_opaque_token,
    new_opaque_token,
)
from storefront.users import repository as users_repository
from storefront.users.models import Role, User

log = get_logger(__name__)

RESET_TOKEN_TTL = timedelta(minutes=30)
VERIFICATION_TOKEN_TTL = timedelta(hours=24)
INVALID_CREDENTIALS = "Invalid email or password"
INVALID_REFRESH_TOKEN = "Invalid or expired refresh token"  # noqa: S105 - a message
USER_AGENT_MAX_LENGTH = 512


class EmailTaken(Conflict):
    code, message = "EMAIL_TAKEN", "An account with this e-mail address already exists"


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who is logging in, kept with the refresh token so a user can recognise a session."""

    user_agent: str | None
    ip: str | None


async def end_sessions(
    session: AsyncSession, user: User, now: datetime, *, keep_session_id: uuid.UUID | None = None
) -> None:
    """End every session of `user` (but `keep_session_id`'s): access tokens issued before
    `now` stop working and refresh tokens are revoked."""
    user.tokens_valid_after = now
    user.kept_session_id = keep_session_id
    await repository.revoke_user_tokens(session, user.id, now, except_family_id=keep_session_id)


async def forget_email_verifications(session: AsyncSession, user: User, now: datetime) -> None:
    """After an e-mail change, links sent to the old address must not verify the new one."""
    await repository.expire_one_time_tokens(session, user.id, TokenPurpose.EMAIL_VERIFICATION, now)


async def create_user(
    session: AsyncSession,
    hasher: PasswordHasher,
    *,
    email: str,
    password: str,
    full_name: str,
    role: Role = Role.CUSTOMER,
    is_active: bool = True,
    is_verified: bool = False,
) -> User:
    """A new account; 409 `EMAIL_TAKEN` when the (normalised) address is in use."""
    if await users_repository.email_exists(session, email):
        raise EmailTaken
    user = User(
        email=email,
        full_name=full_name,
        password_hash=await hasher.hash(password),
        role=role.value,
        is_active=is_active,
        is_verified=is_verified,
    )
    try:
        return await users_repository.add(session, user)
    except IntegrityError:  # a concurrent registration won the unique index
        raise EmailTaken from None


class AuthService:
    def __init__(
        self, settings: Settings, hasher: PasswordHasher, access_tokens: AccessTokens
    ) -> None:
        self.hasher = hasher
        self.access_tokens = access_tokens
        self.refresh_ttl = timedelta(seconds=settings.refresh_token_ttl_seconds)
        self.frontend_url = settings.frontend_url.rstrip("/")

    # ----------------------------------------------------------------------- accounts

    async def register(self, session: AsyncSession, data: RegisterRequest, outbox: Outbox) -> User:
        user = await create_user(
            session, self.hasher, email=data.email, password=data.password, full_name=data.full_name
        )
        await self._send_verification(session, user, utcnow(), outbox)
        return user

    async def authenticate(self, session: AsyncSession, email: str, password: str) -> User:
        """The user with these credentials. One answer for an unknown e-mail and a wrong
        password, after the same bcrypt work; 403 for a disabled account."""
        user = await users_repository.get_by_email(session, email)
        if user is None:
            await self.hasher.verify_dummy(password)
            raise Unauthorized(INVALID_CREDENTIALS)
        if not await self.hasher.verify(password, user.password_hash):
            raise Unauthorized(INVALID_CREDENTIALS)
        if not user.is_active:
            raise Forbidden("This account is disabled")
        if self.hasher.needs_rehash(user.password_hash):
            user.password_hash = await self.hasher.hash(password)
        return user

    # ----------------------------------------------------------------------- sessions

    async def login(
        self, session: AsyncSession, email: str, password: str, client: ClientInfo
    ) -> TokenPair:
        user = await self.authenticate(session, email, password)
        token_pair, _ = await self._issue_tokens(session, user, utcnow(), client, uuid.uuid4())
        return token_pair

    async def refresh(
        self, session: AsyncSession, refresh_token: str, client: ClientInfo
    ) -> TokenPair:
        now = utcnow()
        token_hash = hash_opaque_token(refresh_token)
        claimed = await repository.claim_refresh_token(session, token_hash, now)
        if claimed is None:
            await self._refuse_refresh(session, token_hash, now)
        user = await users_repository.get_by_id(session, claimed.user_id)
        if user is None or not user.is_active:
            raise Unauthorized(INVALID_REFRESH_TOKEN)
        token_pair, replacement_id = await self._issue_tokens(
            session, user, now, client, claimed.family_id
        )
        await repository.link_replacement(session, claimed.id, replacement_id)
        return token_pair

    async def _refuse_refresh(
        self, session: AsyncSession, token_hash: str, now: datetime
    ) -> NoReturn:
        token = await repository.get_refresh_token(session, token_hash)
        if token is not None and token.used_at is not None:
            # A rotated token came back: someone holds a copy. End that whole login, and
            # commit now: the 401 that follows rolls the request's transaction back.
            await repository.revoke_family(session, token.family_id, now)
            await session.commit()
            log.warning(
                "refresh_token_reused", user_id=str(token.user_id), family_id=str(token.family_id)
            )
        raise Unauthorized(INVALID_REFRESH_TOKEN)

    async def logout(self, session: AsyncSession, refresh_token: str) -> None:
        """End the session this refresh token belongs to (an unknown token is a no-op)."""
        token = await repository.get_refresh_token(session, hash_opaque_token(refresh_token))
        if token is not None:
            await repository.revoke_family(session, token.family_id, utcnow())

    async def logout_all(self, session: AsyncSession, user: User) -> None:
        await end_sessions(session, user, utcnow())

    async def _issue_tokens(
        self,
        session: AsyncSession,
        user: User,
        now: datetime,
        client: ClientInfo,
        family_id: uuid.UUID,
    ) -> tuple[TokenPair, uuid.UUID]:
        raw = new_opaque_token()
        refresh = RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_opaque_token(raw),
            expires_at=now + self.refresh_ttl,
            user_agent=client.user_agent[:USER_AGENT_MAX_LENGTH] if client.user_agent else None,
            client_ip=client.ip,
        )
        await repository.add(session, refresh)
        access = self.access_tokens.issue(user.id, now, session_id=family_id)
        token_pair = TokenPair(
            access_token=access, refresh_token=raw, expires_in=self.access_tokens.ttl_seconds
        )
        return token_pair, refresh.id

    # ----------------------------------------------------------------------- passwords

    async def change_password(
        self,
        session: AsyncSession,
        user: User,
        claims: AccessClaims,
        data: PasswordChange,
        outbox: Outbox,
    ) -> None:
        """New password; every session but the caller's ends."""
        if not await self.hasher.verify(data.current_password, user.password_hash):
            raise WrongPassword
        user.password_hash = await self.hasher.hash(data.new_password)
        await end_sessions(session, user, utcnow(), keep_session_id=claims.session_id)
        outbox.put(self._password_changed_mail(user))

    async def forgot_password(self, session: AsyncSession, email: str, outbox: Outbox) -> None:
        """Mail a reset link if an active account has this address; silent otherwise."""
        user = await users_repository.get_by_email(session, email)
        if user is None or not user.is_active:
            return
        token = await self._new_one_time_token(
            session, user, TokenPurpose.PASSWORD_RESET, RESET_TOKEN_TTL
        )
        link = self._link("/reset-password", token)
        outbox.put(
            EmailMessage(
                to=user.email,
                subject="Reset your Storefront password",
                text=(
                    f"Hello {user.full_name},\n\n"
                    f"To choose a new password, open this link within 30 minutes:\n\n{link}\n\n"
                    "If you did not ask for this, ignore this message: your password is "
                    "unchanged.\n"
                ),
            )
        )

    async def reset_password(
        self, session: AsyncSession, data: PasswordReset, outbox: Outbox
    ) -> None:
        now = utcnow()
        user = await self._redeem(session, data.token, TokenPurpose.PASSWORD_RESET, now)
        user.password_hash = await self.hasher.hash(data.new_password)
        # The link reached the mailbox, so the address is proven too.
        user.is_verified = True
        await repository.expire_one_time_tokens(session, user.id, TokenPurpose.PASSWORD_RESET, now)
        await end_sessions(session, user, now)
        outbox.put(self._password_changed_mail(user))

    def _password_changed_mail(self, user: User) -> EmailMessage:
        return EmailMessage(
            to=user.email,
            subject="Your Storefront password was changed",
            text=(
                f"Hello {user.full_name},\n\n"
                "The password of your Storefront account was just changed, and your other "
                "sessions were signed out.\n\nIf this was not you, reset your password at "
                f"{self.frontend_url}/forgot-password and contact support.\n"
            ),
        )

    # ----------------------------------------------------------------------- e-mail verification

    async def request_verification(self, session: AsyncSession, user: User, outbox: Outbox) -> None:
        if not user.is_verified:
            await self._send_verification(session, user, utcnow(), outbox)

    async def verify_email(self, session: AsyncSession, token: str) -> User:
        user = await self._redeem(session, token, TokenPurpose.EMAIL_VERIFICATION, utcnow())
        user.is_verified = True
        return user

    async def _send_verification(
        self, session: AsyncSession, user: User, now: datetime, outbox: Outbox
    ) -> None:
        # Only the newest link works.
        await repository.expire_one_time_tokens(
            session, user.id, TokenPurpose.EMAIL_VERIFICATION, now
        )
        token = await self._new_one_time_token(
            session, user, TokenPurpose.EMAIL_VERIFICATION, VERIFICATION_TOKEN_TTL
        )
        link = self._link("/verify-email", token)
        outbox.put(
            EmailMessage(
                to=user.email,
                subject="Confirm your e-mail address",
                text=(
                    f"Hello {user.full_name},\n\n"
                    f"Please confirm your e-mail address by opening this link within "
                    f"24 hours:\n\n{link}\n"
                ),
            )
        )

    # ----------------------------------------------------------------------- one-time tokens

    async def _new_one_time_token(
        self, session: AsyncSession, user: User, purpose: TokenPurpose, ttl: timedelta
    ) -> str:
        raw = new_opaque_token()
        await repository.add(
            session,
            OneTimeToken(
                user_id=user.id,
                purpose=purpose.value,
                token_hash=hash_opaque_token(raw),
                expires_at=utcnow() + ttl,
            ),
        )
        return raw

    async def _redeem(
        self, session: AsyncSession, token: str, purpose: TokenPurpose, now: datetime
    ) -> User:
        """The active user a live one-time token belongs to; the token is used up."""
        user_id = await repository.claim_one_time_token(
            session, hash_opaque_token(token), purpose, now
        )
        user = None if user_id is None else await users_repository.get_by_id(session, user_id)
        if user is None or not user.is_active:
            raise InvalidToken
        return user

    def _link(self, path: str, token: str) -> str:
        return f"{self.frontend_url}{path}?{urlencode({'token': token})}"
