"""Queries on users and refresh tokens (SQLAlchemy 2 `select` / `update` / `delete`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gomeet.auth.models import RefreshToken, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        """`email` must already be normalised (lower-cased), as it is stored."""
        result = await self.session.execute(select(User).where(User.email == email))
        return result.scalar_one_or_none()

    async def email_taken(self, email: str, *, by_other_than: uuid.UUID | None = None) -> bool:
        conditions = [User.email == email]
        if by_other_than is not None:
            conditions.append(User.id != by_other_than)
        return bool(await self.session.scalar(select(exists().where(*conditions))))

    async def add(self, user: User) -> None:
        """Insert and flush; a duplicate e-mail raises `IntegrityError`."""
        self.session.add(user)
        await self.session.flush()

    async def bump_token_version(self, user_id: uuid.UUID) -> int:
        """Atomically increment token_version (revokes every earlier token); the new value."""
        result = await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(token_version=User.token_version + 1)
            .returning(User.token_version)
        )
        return int(result.scalar_one())


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token_id: uuid.UUID, user_id: uuid.UUID, expires_at: datetime) -> None:
        self.session.add(RefreshToken(id=token_id, user_id=user_id, expires_at=expires_at))
        await self.session.flush()

    async def mark_used(self, token_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> bool:
        """One conditional UPDATE: of concurrent callers with one token, exactly one gets True."""
        result = cast(
            CursorResult[Any],
            await self.session.execute(
                update(RefreshToken)
                .where(
                    RefreshToken.id == token_id,
                    RefreshToken.user_id == user_id,
                    RefreshToken.used_at.is_(None),
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            ),
        )
        return result.rowcount == 1

    async def used_at(self, token_id: uuid.UUID) -> datetime | None:
        """When the token was exchanged for a new pair; None if it is unknown or unused."""
        stmt = select(RefreshToken.used_at).where(RefreshToken.id == token_id)
        return await self.session.scalar(stmt)

    async def delete_for_user(self, user_id: uuid.UUID) -> None:
        await self.session.execute(
            delete(RefreshToken)
            .where(RefreshToken.user_id == user_id)
            .execution_options(synchronize_session=False)
        )

    async def delete_expired(self, user_id: uuid.UUID, now: datetime) -> None:
        """Housekeeping when a user gets new tokens: expired rows can never be presented."""
        await self.session.execute(
            delete(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.expires_at < now)
            .execution_options(synchronize_session=False)
        )
