"""Every query of the auth domain: refresh tokens and one-time tokens. Flush, never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update

from storefront.auth.models import OneTimeToken, RefreshToken, TokenPurpose
from storefront.core.database import ReadSession, WriteSession, delete_batch


@dataclass(frozen=True, slots=True)
class ClaimedRefreshToken:
    id: uuid.UUID
    user_id: uuid.UUID
    family_id: uuid.UUID
    login_at: datetime


@dataclass(frozen=True, slots=True)
class OneTimeLink:
    """A live one-time token: whose it is, the address it was mailed to, and when."""

    user_id: uuid.UUID
    email: str
    created_at: datetime


async def add(session: WriteSession, token: RefreshToken | OneTimeToken) -> None:
    session.add(token)
    await session.flush()


async def claim_refresh_token(
    session: WriteSession, token_hash: str, now: datetime
) -> ClaimedRefreshToken | None:
    """Mark a live refresh token used, atomically: of two requests racing with the same token,
    exactly one gets a row back (the other's UPDATE re-checks `used_at` after the first
    commits, on PostgreSQL; SQLite serialises writers)."""
    row = (
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(
                RefreshToken.id, RefreshToken.user_id, RefreshToken.family_id, RefreshToken.login_at
            )
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if row is None:
        return None
    return ClaimedRefreshToken(row.id, row.user_id, row.family_id, row.login_at)


async def get_refresh_token_owner(session: ReadSession, token_hash: str) -> uuid.UUID | None:
    """The id of the user a refresh token (live or not) was issued to."""
    owner: uuid.UUID | None = await session.scalar(
        select(RefreshToken.user_id).where(RefreshToken.token_hash == token_hash)
    )
    return owner


async def get_refresh_token(session: ReadSession, token_hash: str) -> RefreshToken | None:
    return await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


async def link_replacement(
    session: WriteSession, token_id: uuid.UUID, replacement_id: uuid.UUID
) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id)
        .values(replaced_by_id=replacement_id)
        .execution_options(synchronize_session=False)
    )


async def revoke_family(session: WriteSession, family_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def revoke_user_tokens(
    session: WriteSession,
    user_id: uuid.UUID,
    now: datetime,
    except_family_id: uuid.UUID | None = None,
) -> None:
    query = update(RefreshToken).where(
        RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
    )
    if except_family_id is not None:
        query = query.where(RefreshToken.family_id != except_family_id)
    await session.execute(query.values(revoked_at=now).execution_options(synchronize_session=False))


def _live_one_time_token(token_hash: str, purpose: TokenPurpose, now: datetime) -> Any:
    return (
        OneTimeToken.token_hash == token_hash,
        OneTimeToken.purpose == purpose.value,
        OneTimeToken.used_at.is_(None),
        OneTimeToken.expires_at > now,
    )


async def find_one_time_token(
    session: ReadSession, token_hash: str, purpose: TokenPurpose, now: datetime
) -> OneTimeLink | None:
    """A live one-time token, left as it is (see `claim_one_time_token`)."""
    row = (
        await session.execute(
            select(OneTimeToken.user_id, OneTimeToken.email, OneTimeToken.created_at).where(
                *_live_one_time_token(token_hash, purpose, now)
            )
        )
    ).one_or_none()
    return None if row is None else OneTimeLink(row.user_id, row.email, row.created_at)


async def claim_one_time_token(
    session: WriteSession, token_hash: str, purpose: TokenPurpose, now: datetime
) -> OneTimeLink | None:
    """Mark a live one-time token used, atomically (of two concurrent claims, one wins)."""
    row = (
        await session.execute(
            update(OneTimeToken)
            .where(*_live_one_time_token(token_hash, purpose, now))
            .values(used_at=now)
            .returning(OneTimeToken.user_id, OneTimeToken.email, OneTimeToken.created_at)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    return None if row is None else OneTimeLink(row.user_id, row.email, row.created_at)


async def expire_one_time_tokens(
    session: WriteSession, user_id: uuid.UUID, purpose: TokenPurpose, now: datetime
) -> None:
    """Make every outstanding token of this purpose unusable (e.g. after a reset)."""
    await session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user_id,
            OneTimeToken.purpose == purpose.value,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


# --------------------------------------------------------------------------- housekeeping
# Used by `storefront purge` (storefront.housekeeping); docs/decisions.md gives the rules.


def _in_force_at(moment: datetime) -> ColumnElement[bool]:
    """A refresh token that had not expired and was not revoked at `moment`."""
    return and_(
        RefreshToken.expires_at > moment,
        or_(RefreshToken.revoked_at.is_(None), RefreshToken.revoked_at > moment),
    )


async def dead_refresh_token_families(
    session: ReadSession, *, cutoff: datetime, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """Up to `limit` families, in id order after `after`, none of whose tokens was in force at
    `cutoff`. Such a family can never issue a token again (only a token in force can be
    exchanged), so nothing can bring it back, and reuse detection has nothing left to protect.
    Families with a token in force keep every token: a rotated one presented again must still
    be recognised as reused."""
    in_force = case((_in_force_at(cutoff), 1), else_=0)
    query = (
        select(RefreshToken.family_id)
        .group_by(RefreshToken.family_id)
        .having(func.sum(in_force) == 0)
        .order_by(RefreshToken.family_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(RefreshToken.family_id > after)
    return list((await session.scalars(query)).all())


async def delete_refresh_tokens_of_families(
    session: WriteSession, family_ids: Sequence[uuid.UUID], *, limit: int
) -> int:
    """Delete up to `limit` tokens of these (dead) families, oldest first, so that a deleted
    token's predecessor, which points at it, is already gone; rows another transaction holds
    are skipped, never waited for. The number deleted."""
    batch = (
        select(RefreshToken.id)
        .where(RefreshToken.family_id.in_(family_ids))
        .order_by(RefreshToken.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return len(await delete_batch(session, RefreshToken, (RefreshToken.id,), batch))


async def delete_spent_one_time_tokens(
    session: WriteSession, *, cutoff: datetime, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """Delete up to `limit` one-time tokens, in id order after `after`, that were used or had
    expired by `cutoff` (neither can be redeemed again), skipping rows another transaction
    holds. The ids deleted."""
    batch = (
        select(OneTimeToken.id)
        .where(or_(OneTimeToken.expires_at <= cutoff, OneTimeToken.used_at <= cutoff))
        .order_by(OneTimeToken.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if after is not None:
        batch = batch.where(OneTimeToken.id > after)
    return [row.id for row in await delete_batch(session, OneTimeToken, (OneTimeToken.id,), batch)]
