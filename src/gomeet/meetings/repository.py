"""Meeting and participant queries (SQLAlchemy 2 `select`); no rules, no authorization."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from gomeet.auth.models import User
from gomeet.db import dialect_insert, utcnow
from gomeet.meetings.models import Meeting, Participant


@dataclass(frozen=True, slots=True)
class Footprint:
    """Who and what a set of meetings shows up for: the owners of every cached value."""

    meeting_ids: set[uuid.UUID] = field(default_factory=set)
    host_ids: set[uuid.UUID] = field(default_factory=set)
    participant_user_ids: set[uuid.UUID] = field(default_factory=set)


class MeetingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- meetings -------------------------------------------------------------------------

    @staticmethod
    def _with_relations(stmt: Select[Meeting]) -> Select[Meeting]:
        return stmt.options(joinedload(Meeting.host), selectinload(Meeting.participants))

    async def get(self, meeting_id: uuid.UUID) -> Meeting | None:
        """The meeting with its host and participants loaded."""
        stmt = self._with_relations(select(Meeting).where(Meeting.id == meeting_id))
        return (await self.session.scalars(stmt)).one_or_none()

    async def exists(self, meeting_id: uuid.UUID) -> bool:
        stmt = select(Meeting.id).where(Meeting.id == meeting_id)
        return (await self.session.scalar(stmt)) is not None

    def add(self, meeting: Meeting) -> None:
        self.session.add(meeting)

    async def delete(self, meeting_id: uuid.UUID) -> None:
        """Participants go with it (ON DELETE CASCADE)."""
        await self.session.execute(delete(Meeting).where(Meeting.id == meeting_id))

    async def _page(
        self, stmt: Select[Meeting], page: int, limit: int
    ) -> tuple[list[Meeting], int]:
        count_stmt = select(func.count()).select_from(stmt.order_by(None).subquery())
        total = (await self.session.scalar(count_stmt)) or 0
        rows = await self.session.scalars(
            self._with_relations(stmt).limit(limit).offset((page - 1) * limit)
        )
        return list(rows), total

    async def page_hosted(
        self, host_id: uuid.UUID, page: int, limit: int, search: str
    ) -> tuple[list[Meeting], int]:
        """Newest first; `search` (already `text.search_term`-normalised) is a
        case-insensitive substring, `%` and `_` literal."""
        stmt = select(Meeting).where(Meeting.host_id == host_id)
        if search:
            stmt = stmt.where(func.lower(Meeting.name).contains(search, autoescape=True))
        stmt = stmt.order_by(Meeting.created_at.desc(), Meeting.id)
        return await self._page(stmt, page, limit)

    async def upcoming(self, host_id: uuid.UUID, now: datetime, limit: int) -> list[Meeting]:
        stmt = (
            select(Meeting)
            .where(Meeting.host_id == host_id, Meeting.start_time >= now)
            .order_by(Meeting.start_time, Meeting.id)
            .limit(limit)
        )
        return list(await self.session.scalars(self._with_relations(stmt)))

    async def page_past(
        self, host_id: uuid.UUID, now: datetime, page: int, limit: int
    ) -> tuple[list[Meeting], int]:
        stmt = (
            select(Meeting)
            .where(Meeting.host_id == host_id, Meeting.start_time < now)
            .order_by(Meeting.start_time.desc(), Meeting.id)
        )
        return await self._page(stmt, page, limit)

    async def page_joined(
        self, user_id: uuid.UUID, page: int, limit: int
    ) -> tuple[list[Meeting], int]:
        """Meetings with a participant row of the user (left or not), latest join first."""
        stmt = (
            select(Meeting)
            .join(Participant, Participant.meeting_id == Meeting.id)
            .where(Participant.user_id == user_id)
            .order_by(Participant.joined_at.desc(), Meeting.id)
        )
        return await self._page(stmt, page, limit)

    # -- participants ---------------------------------------------------------------------

    async def participants(self, meeting_id: uuid.UUID) -> list[Participant]:
        stmt = (
            select(Participant)
            .where(Participant.meeting_id == meeting_id)
            .order_by(Participant.joined_at, Participant.id)
        )
        return list(await self.session.scalars(stmt))

    async def find_participant(
        self,
        meeting_id: uuid.UUID,
        *,
        user_id: uuid.UUID | None = None,
        public_user_id: uuid.UUID | None = None,
    ) -> Participant | None:
        stmt = select(Participant).where(
            Participant.meeting_id == meeting_id,
            Participant.user_id == user_id
            if user_id is not None
            else Participant.public_user_id == public_user_id,
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def upsert_participant(
        self,
        meeting_id: uuid.UUID,
        *,
        name: str,
        avatar_url: str | None,
        user_id: uuid.UUID | None = None,
        public_user_id: uuid.UUID | None = None,
    ) -> Participant:
        """Join: one atomic INSERT … ON CONFLICT per (meeting, user) or (meeting, public user).

        A new row is active; an existing one is reactivated (`leftAt` cleared, `joinedAt`
        renewed only if it had left) and its name/avatar copies refreshed. Concurrent joins
        of one person therefore always end with exactly one row.
        """
        stmt = dialect_insert(self.session, Participant).values(
            id=uuid.uuid4(),
            meeting_id=meeting_id,
            user_id=user_id,
            public_user_id=public_user_id,
            name=name,
            avatar_url=avatar_url,
            is_active=True,
            joined_at=utcnow(),
            left_at=None,
        )
        target = Participant.user_id if user_id is not None else Participant.public_user_id
        new: Any = stmt.excluded
        upsert = stmt.on_conflict_do_update(
            index_elements=[Participant.meeting_id, target],
            set_={
                "name": new.name,
                "avatar_url": new.avatar_url,
                "joined_at": case(
                    (Participant.is_active, Participant.joined_at), else_=new.joined_at
                ),
                "is_active": True,
                "left_at": None,
            },
        ).returning(Participant)
        result = await self.session.scalars(upsert, execution_options={"populate_existing": True})
        participant: Participant = result.one()
        return participant

    async def refresh_user_copies(self, user_id: uuid.UUID) -> None:
        """Copy the user's current username and avatar into their participant rows."""
        user = select(User).where(User.id == user_id)
        await self.session.execute(
            update(Participant)
            .where(Participant.user_id == user_id)
            .values(
                name=user.with_only_columns(User.username).scalar_subquery(),
                avatar_url=user.with_only_columns(User.avatar_url).scalar_subquery(),
            )
        )

    # -- cache footprint ------------------------------------------------------------------

    @staticmethod
    def involving_user(user_id: uuid.UUID) -> ColumnElement[bool]:
        """Meetings the user hosts or has a participant row in."""
        joined = select(Participant.meeting_id).where(Participant.user_id == user_id)
        return or_(Meeting.host_id == user_id, Meeting.id.in_(joined))

    async def footprint(self, where: ColumnElement[bool]) -> Footprint:
        """The meetings matching `where`, their hosts and their participating users."""
        meetings = (
            await self.session.execute(select(Meeting.id, Meeting.host_id).where(where))
        ).all()
        users: Sequence[uuid.UUID | None] = (
            await self.session.scalars(
                select(Participant.user_id)
                .distinct()
                .join(Meeting, Meeting.id == Participant.meeting_id)
                .where(where, Participant.user_id.is_not(None))
            )
        ).all()
        return Footprint(
            meeting_ids={m.id for m in meetings},
            host_ids={m.host_id for m in meetings},
            participant_user_ids={u for u in users if u is not None},
        )
