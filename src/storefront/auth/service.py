"""Business rules of authentication: credentials, logins and one-time links.

The auth domain sits on the users domain: accounts (creation, the password hash, whether a
user's logins still stand) are `users.service`'s; tokens and one-time links are ours.

A *login* is one sign-in with a password: a family of refresh tokens, each used once and
replaced by the next. Every token of a family carries the login's `login_at`, and none
outlives `login_at + login_max_age_seconds`. Access tokens carry the family id as `sid`, so
"end every other login" can keep the caller's. Ending logins writes the user's
`tokens_valid_after` (`users.service.end_logins`: read by every access-token check and every
refresh); the auth flows also revoke the refresh tokens they end.

Two rules keep this safe under load and under concurrency:
- No request waits for, or runs, a password hash while it holds a database connection: what
  the check needs is read first, the connection is released (`release_connection`), the hash
  runs, and only then does the write transaction start.
- Every change to a user's logins locks the user's row first (a refresh, a logout, and every
  action that ends logins), so a refresh in flight either completes before the ending action
  (which then revokes what it issued) or waits for it and is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn
from urllib.parse import urlencode

from storefront.auth import repository
from storefront.auth.errors import (
    AccountDisabled,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidToken,
    RefreshTokenReused,
)
from storefront.auth.models import OneTimeToken, RefreshToken, TokenPurpose
from storefront.auth.schemas import PasswordChange, PasswordReset, RegisterRequest, TokenPair
from storefront.core.config import Settings
from storefront.core.database import WriteSession, release_connection, utcnow
from storefront.core.email import EmailMessage, Outbox
from storefront.core.logging import get_logger
from storefront.core.security import (
    AccessTokens,
    PasswordHasher,
    hash_opaque_token,
    new_opaque_token,
)
from storefront.users import service as users
from storefront.users.models import User

log = get_logger(__name__)

RESET_TOKEN_TTL = timedelta(minutes=30)
VERIFICATION_TOKEN_TTL = timedelta(hours=24)
USER_AGENT_MAX_LENGTH = 512


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who is logging in, kept with the refresh token so a user can recognise a login."""

    user_agent: str | None
    ip: str | None


async def end_logins(
    session: WriteSession, user: User, now: datetime, *, keep_login_id: uuid.UUID | None = None
) -> None:
    """End every login of `user` (locked) but `keep_login_id`'s: the signal on the user's row
    first, then the refresh tokens revoked."""
    users.end_logins(user, now, keep_login_id=keep_login_id)
    await session.flush()
    await repository.revoke_user_tokens(session, user.id, now, except_family_id=keep_login_id)


class AuthService:
    def __init__(
        self, settings: Settings, hasher: PasswordHasher, access_tokens: AccessTokens
    ) -> None:
        self.hasher = hasher
        self.access_tokens = access_tokens
        self.refresh_ttl = timedelta(seconds=settings.refresh_token_ttl_seconds)
        self.login_max_age = timedelta(seconds=settings.login_max_age_seconds)
        self.frontend_url = settings.frontend_url.rstrip("/")

    # ----------------------------------------------------------------------- accounts

    async def register(self, session: WriteSession, data: RegisterRequest, outbox: Outbox) -> User:
        user = await users.create_account(
            session, self.hasher, email=data.email, password=data.password, full_name=data.full_name
        )
        await self._send_verification(session, user, utcnow(), outbox)
        return user

    async def authenticate(self, session: WriteSession, email: str, password: str) -> User:
        """The user with these credentials. One answer for an unknown e-mail and a wrong
        password, after the same bcrypt work; 403 for a disabled account. A hash made at an
        older cost is replaced (if the password did not change meanwhile)."""
        user = await users.find_by_email(session, email)
        await release_connection(session)
        if user is None:
            await self.hasher.verify_dummy(password)
            raise InvalidCredentials
        if not await self.hasher.verify(password, user.password_hash):
            raise InvalidCredentials
        if not user.is_active:
            raise AccountDisabled
        if self.hasher.needs_rehash(user.password_hash):
            new_hash = await self.hasher.hash(password)
            await users.replace_password_hash(session, user.id, user.password_hash, new_hash)
        return user

    # ----------------------------------------------------------------------- logins

    async def login(
        self, session: WriteSession, email: str, password: str, client: ClientInfo
    ) -> TokenPair:
        user = await self.authenticate(session, email, password)
        now = utcnow()
        tokens, _ = await self._issue_tokens(session, user.id, now, client, uuid.uuid4(), now)
        return tokens

    async def refresh(
        self, session: WriteSession, refresh_token: str, client: ClientInfo
    ) -> TokenPair:
        now = utcnow()
        token_hash = hash_opaque_token(refresh_token)
        owner_id = await repository.get_refresh_token_owner(session, token_hash)
        if owner_id is None:
            raise InvalidRefreshToken
        # Serialised with every action that ends this user's logins (see the module's doc).
        user = await users.lock_user(session, owner_id)
        claimed = await repository.claim_refresh_token(session, token_hash, now)
        if claimed is None:
            await self._refuse_refresh(session, token_hash, now)
        if (
            user is None
            or not user.is_active
            or users.login_has_ended(user, claimed.family_id, claimed.login_at)
        ):
            raise InvalidRefreshToken
        tokens, replacement_id = await self._issue_tokens(
            session, user.id, now, client, claimed.family_id, claimed.login_at
        )
        await repository.link_replacement(session, claimed.id, replacement_id)
        return tokens

    async def _refuse_refresh(
        self, session: WriteSession, token_hash: str, now: datetime
    ) -> NoReturn:
        token = await repository.get_refresh_token(session, token_hash)
        if token is not None and token.used_at is not None:
            await repository.revoke_family(session, token.family_id, now)
            log.warning(
                "refresh_token_reused", user_id=str(token.user_id), family_id=str(token.family_id)
            )
            raise RefreshTokenReused
        raise InvalidRefreshToken

    async def logout(self, session: WriteSession, refresh_token: str) -> None:
        """End the login this refresh token belongs to (an unknown token is a no-op)."""
        token = await repository.get_refresh_token(session, hash_opaque_token(refresh_token))
        if token is not None:
            await users.lock_user(session, token.user_id)
            await repository.revoke_family(session, token.family_id, utcnow())

    async def logout_all(self, session: WriteSession, user_id: uuid.UUID) -> None:
        user = await users.lock_user(session, user_id)
        if user is not None:
            await end_logins(session, user, utcnow())

    async def _issue_tokens(
        self,
        session: WriteSession,
        user_id: uuid.UUID,
        now: datetime,
        client: ClientInfo,
        family_id: uuid.UUID,
        login_at: datetime,
    ) -> tuple[TokenPair, uuid.UUID]:
        """A new access token and the next refresh token of the family (and its row's id)."""
        expires_at = min(now + self.refresh_ttl, login_at + self.login_max_age)
        if expires_at <= now:  # the login reached its absolute lifetime
            raise InvalidRefreshToken
        raw = new_opaque_token()
        refresh = RefreshToken(
            user_id=user_id,
            family_id=family_id,
            login_at=login_at,
            token_hash=hash_opaque_token(raw),
            expires_at=expires_at,
            user_agent=client.user_agent[:USER_AGENT_MAX_LENGTH] if client.user_agent else None,
            client_ip=client.ip,
        )
        await repository.add(session, refresh)
        access = self.access_tokens.issue(user_id, now, login_id=family_id)
        pair = TokenPair(
            access_token=access, refresh_token=raw, expires_in=self.access_tokens.ttl_seconds
        )
        return pair, refresh.id

    # ----------------------------------------------------------------------- passwords

    async def change_password(
        self,
        session: WriteSession,
        user_id: uuid.UUID,
        login_id: uuid.UUID | None,
        data: PasswordChange,
        outbox: Outbox,
    ) -> None:
        """New password; every login but the caller's ends, reset links die."""
        checked = await users.check_current_password(
            session, self.hasher, user_id, data.current_password
        )
        new_hash = await self.hasher.hash(data.new_password)
        user = await users.lock_unchanged_user(session, user_id, checked)
        now = utcnow()
        user.password_hash = new_hash
        await end_logins(session, user, now, keep_login_id=login_id)
        await repository.expire_one_time_tokens(session, user.id, TokenPurpose.PASSWORD_RESET, now)
        outbox.put(self._password_changed_mail(user))

    async def forgot_password(self, session: WriteSession, email: str, outbox: Outbox) -> None:
        """Mail a reset link if an active account has this address; silent otherwise."""
        user = await users.find_by_email(session, email)
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
                    f"{users.greeting(user)}\n\n"
                    f"To choose a new password, open this link within 30 minutes:\n\n{link}\n\n"
                    "If you did not ask for this, ignore this message: your password is "
                    "unchanged.\n"
                ),
            )
        )

    async def reset_password(
        self, session: WriteSession, data: PasswordReset, outbox: Outbox
    ) -> None:
        """A new password through a mailed link: every login ends, and the address is proven
        (the link only works while the account has the address it was mailed to)."""
        token_hash = hash_opaque_token(data.token)
        purpose = TokenPurpose.PASSWORD_RESET
        if await repository.find_one_time_token(session, token_hash, purpose, utcnow()) is None:
            raise InvalidToken  # no hash spent on a token that cannot work
        await release_connection(session)
        new_hash = await self.hasher.hash(data.new_password)
        now = utcnow()
        user = await self._redeem(session, token_hash, purpose, now)
        user.password_hash = new_hash
        user.is_verified = True
        await repository.expire_one_time_tokens(session, user.id, purpose, now)
        await end_logins(session, user, now)
        outbox.put(self._password_changed_mail(user))

    def _password_changed_mail(self, user: User) -> EmailMessage:
        return EmailMessage(
            to=user.email,
            subject="Your Storefront password was changed",
            text=(
                f"{users.greeting(user)}\n\n"
                "The password of your Storefront account was just changed, and your other "
                "sessions were signed out.\n\nIf this was not you, reset your password at "
                f"{self.frontend_url}/forgot-password and contact support.\n"
            ),
        )

    # ----------------------------------------------------------------------- e-mail verification

    async def request_verification(
        self, session: WriteSession, user_id: uuid.UUID, outbox: Outbox
    ) -> None:
        user = await users.get_user(session, user_id)
        if not user.is_verified:
            await self._send_verification(session, user, utcnow(), outbox)

    async def verify_email(self, session: WriteSession, token: str) -> User:
        now = utcnow()
        purpose = TokenPurpose.EMAIL_VERIFICATION
        user = await self._redeem(session, hash_opaque_token(token), purpose, now)
        user.is_verified = True
        return user

    async def _send_verification(
        self, session: WriteSession, user: User, now: datetime, outbox: Outbox
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
                    "Hello,\n\nPlease confirm your e-mail address by opening this link within "
                    f"24 hours:\n\n{link}\n"
                ),
            )
        )

    # ----------------------------------------------------------------------- one-time tokens

    async def _new_one_time_token(
        self, session: WriteSession, user: User, purpose: TokenPurpose, ttl: timedelta
    ) -> str:
        raw = new_opaque_token()
        await repository.add(
            session,
            OneTimeToken(
                user_id=user.id,
                purpose=purpose.value,
                email=user.email,
                token_hash=hash_opaque_token(raw),
                expires_at=utcnow() + ttl,
            ),
        )
        return raw

    async def _redeem(
        self, session: WriteSession, token_hash: str, purpose: TokenPurpose, now: datetime
    ) -> User:
        """The active user a live one-time token belongs to, locked; the token is used up.
        A link works only while the account has the address it was mailed to, and not at all
        once the address changed after it was mailed."""
        link = await repository.claim_one_time_token(session, token_hash, purpose, now)
        user = None if link is None else await users.lock_user(session, link.user_id)
        if link is None or user is None or not user.is_active or user.email != link.email:
            raise InvalidToken
        if user.email_changed_at is not None and link.created_at < user.email_changed_at:
            raise InvalidToken
        return user

    def _link(self, path: str, token: str) -> str:
        return f"{self.frontend_url}{path}?{urlencode({'token': token})}"
