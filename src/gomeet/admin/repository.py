"""Which rows are worth warming (SQLAlchemy 2 `select`); the reads themselves go through
the domain services."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gomeet.auth.models import RefreshToken, User
from gomeet.feature_flags.models import FeatureFlag
from gomeet.meetings.models import Meeting, Participant
from gomeet.public_users.models import PublicUser


class WarmRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def recently_active_user_ids(self, limit: int) -> list[uuid.UUID]:
        """Users by their latest sign-in (newest refresh token), then by latest change."""
        last_sign_in = func.max(RefreshToken.expires_at)
        stmt = (
            select(User.id)
            .outerjoin(RefreshToken, RefreshToken.user_id == User.id)
            .group_by(User.id)
            .order_by(last_sign_in.desc().nulls_last(), func.max(User.updated_at).desc(), User.id)
            .limit(limit)
        )
        return list(await self.session.scalars(stmt))

    async def active_meeting_ids(self, limit: int) -> list[uuid.UUID]:
        """Meetings in progress, most recently changed first."""
        stmt = (
            select(Meeting.id)
            .where(Meeting.is_active.is_(True))
            .order_by(Meeting.updated_at.desc(), Meeting.id)
            .limit(limit)
        )
        return list(await self.session.scalars(stmt))

    async def active_guest_session_ids(self, limit: int) -> list[str]:
        """Session ids of guests present in a meeting in progress, latest join first."""
        latest_join = func.max(Participant.joined_at)
        stmt = (
            select(PublicUser.session_id)
            .join(Participant, Participant.public_user_id == PublicUser.id)
            .join(Meeting, Meeting.id == Participant.meeting_id)
            .where(Meeting.is_active.is_(True), Participant.is_active.is_(True))
            .group_by(PublicUser.session_id)
            .order_by(latest_join.desc(), PublicUser.session_id)
            .limit(limit)
        )
        return list(await self.session.scalars(stmt))

    async def flag_names(self, limit: int) -> list[str]:
        """Every feature flag (a small table), by name."""
        stmt = select(FeatureFlag.name).order_by(FeatureFlag.name).limit(limit)
        return list(await self.session.scalars(stmt))
