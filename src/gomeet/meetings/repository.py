"""Meeting and participant queries (SQLAlchemy 2 `select`); no rules, no authorization."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from gomeet.db import dialect_insert, folded, utcnow
from gomeet.meetings.models import Meeting, Participant

AnySelect = TypeVar("AnySelect", bound=Select[Any])


class MeetingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- meetings -------------------------------------------------------------------------

    @staticmethod
    def _with_relations(stmt: AnySelect) -> AnySelect:
        return stmt.options(joinedload(Meeting.host), selectinload(Meeting.participants))

    async def get(self, meeting_id: uuid.UUID) -> Meeting | None:
        """The meeting with its host and participants loaded, in one statement (both joined:
        one meeting's few participant rows cost less than a second round trip)."""
        stmt = (
            select(Meeting)
            .where(Meeting.id == meeting_id)
            .options(joinedload(Meeting.host), joinedload(Meeting.participants))
        )
        return (await self.session.scalars(stmt)).unique().one_or_none()

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
        """One page and the total: the total rides on the page's rows (`count(*) OVER ()`,
        computed before LIMIT), so a page costs one statement (and the participants' select-in
        load) instead of two; only a page past the end, which has no row to carry it,
        counts separately."""
        total_column = func.count().over().label("total")
        result = await self.session.execute(
            self._with_relations(stmt.add_columns(total_column))
            .limit(limit)
            .offset((page - 1) * limit)
        )
        rows = result.unique().all()
        if rows:
            return [row[0] for row in rows], int(rows[0][1])
        if page == 1:
            return [], 0
        count_stmt = select(func.count()).select_from(stmt.order_by(None).subquery())
        return [], (await self.session.scalar(count_stmt)) or 0

    async def page_hosted(
        self, host_id: uuid.UUID, page: int, limit: int, search: str
    ) -> tuple[list[Meeting], int]:
        """Newest first; `search` (already `text.search_term`-normalised) is a
        case-insensitive substring, `%` and `_` literal."""
        stmt = select(Meeting).where(Meeting.host_id == host_id)
        if search:
            stmt = stmt.where(folded(self.session, Meeting.name).contains(search, autoescape=True))
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

    async def participant(self, participant_id: uuid.UUID) -> Participant:
        """One row as it reads now (its shown name and avatar included)."""
        stmt = select(Participant).where(Participant.id == participant_id)
        result = await self.session.scalars(stmt, execution_options={"populate_existing": True})
        return result.one()

    async def lock_for_delete(
        self, meeting_id: uuid.UUID
    ) -> tuple[uuid.UUID, tuple[uuid.UUID, ...]] | None:
        """Lock the meeting's row (FOR UPDATE: no join can commit until this transaction
        ends, joins take a key-share lock on it), then read who it shows up for: its host
        and its participating users. None if it is gone."""
        host = await self.session.scalar(
            select(Meeting.host_id).where(Meeting.id == meeting_id).with_for_update()
        )
        if host is None:
            return None
        users = await self.session.scalars(
            select(Participant.user_id)
            .where(Participant.meeting_id == meeting_id, Participant.user_id.is_not(None))
            .distinct()
        )
        return host, tuple(u for u in users if u is not None)
