"""Meeting rules: who may read or change a meeting, joins and leaves.

Reads go through the cache (`get_or_load`) and return the JSON the endpoint sends;
authorization is checked on that JSON, so a hit is refused exactly like a miss. Writes
`flush()` and record what they changed (`gomeet.changes`); the request's unit of work
commits, and the cached values the change makes stale are invalidated from there
(`gomeet.consistency`): no service lists cache keys.

Who counts as a participant: anyone with a participant row, active or not. Someone who
left a meeting may still read it (its details and participants) and sees it in their
joined list; only the host may change it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import Any, TypeVar, cast

from sqlalchemy.exc import IntegrityError

from gomeet.cache import CacheKey, CacheRepository, keys
from gomeet.changes import MeetingChanged, MeetingDeleted, MembershipChanged
from gomeet.db import UnitOfWork, utcnow
from gomeet.errors import Forbidden, NotFound
from gomeet.meetings.models import Meeting, Participant
from gomeet.meetings.repository import MeetingRepository
from gomeet.meetings.schemas import (
    MeetingCreate,
    MeetingOut,
    MeetingPage,
    MeetingUpdate,
    ParticipantOut,
    PublicMeetingOut,
    PublicParticipantOut,
)
from gomeet.schemas import Pagination
from gomeet.text import search_term

JSON = dict[str, Any]
T = TypeVar("T")


class MeetingNotFound(NotFound):
    code = "MEETING_NOT_FOUND"
    message = "Meeting not found"


class ParticipantNotFound(NotFound):
    code = "PARTICIPANT_NOT_FOUND"
    message = "Not a participant of this meeting"


def _meeting_json(meeting: Meeting) -> JSON:
    return MeetingOut.model_validate(meeting).to_json()


def _participant_json(participant: Participant) -> JSON:
    return ParticipantOut.model_validate(participant).to_json()


def _page_json(meetings: list[Meeting], total: int, page: int, limit: int) -> JSON:
    return MeetingPage(
        meetings=[MeetingOut.model_validate(m) for m in meetings],
        pagination=Pagination.of(page, limit, total),
    ).to_json()


def _may_read(details: JSON, user_id: uuid.UUID) -> bool:
    """Host, or any participant row of the user (active or left)."""
    me = str(user_id)
    return details["hostId"] == me or any(p["userId"] == me for p in details["participants"])


class MeetingService:
    def __init__(self, uow: UnitOfWork, cache: CacheRepository) -> None:
        self.uow = uow
        self.cache = cache

    @cached_property
    def repo(self) -> MeetingRepository:
        """Made on first use: the unit of work opens its session for the first query only."""
        return MeetingRepository(self.uow.session)

    # -- reads ----------------------------------------------------------------------------

    async def _read(self, key: CacheKey, loader: Callable[[], Awaitable[T]]) -> T:
        """`cache.get_or_load`, typed: the value is what `loader` returns (None included)."""
        return cast(T, await self.cache.get_or_load(key, loader))

    async def _details(self, meeting_id: uuid.UUID) -> JSON:
        async def load() -> JSON | None:
            meeting = await self.repo.get(meeting_id)
            return _meeting_json(meeting) if meeting else None

        details = await self._read(keys.meeting_details(meeting_id), load)
        if details is None:
            raise MeetingNotFound()
        return details

    async def _readable_details(self, meeting_id: uuid.UUID, user_id: uuid.UUID) -> JSON:
        details = await self._details(meeting_id)
        if not _may_read(details, user_id):
            raise Forbidden("Only the host or a participant may see this meeting")
        return details

    async def _participants(self, meeting_id: uuid.UUID) -> list[JSON]:
        async def load() -> list[JSON] | None:
            rows = await self.repo.participants(meeting_id)
            if not rows and not await self.repo.exists(meeting_id):  # a second query only then
                return None
            return [_participant_json(p) for p in rows]

        rows = await self._read(keys.participant_list(meeting_id), load)
        if rows is None:
            raise MeetingNotFound()
        return rows

    async def get(self, meeting_id: uuid.UUID, user_id: uuid.UUID) -> JSON:
        return await self._readable_details(meeting_id, user_id)

    async def participants(self, meeting_id: uuid.UUID, user_id: uuid.UUID) -> list[JSON]:
        await self._readable_details(meeting_id, user_id)
        return await self._participants(meeting_id)

    async def public(self, meeting_id: uuid.UUID) -> JSON:
        return PublicMeetingOut.from_details(await self._details(meeting_id)).to_json()

    async def public_participants(self, meeting_id: uuid.UUID) -> list[JSON]:
        rows = await self._participants(meeting_id)
        return [PublicParticipantOut.model_validate(p).to_json() for p in rows]

    async def host_of(self, meeting_id: uuid.UUID) -> uuid.UUID:
        """The host's id, from the cached details; MeetingNotFound for no such meeting."""
        return uuid.UUID((await self._details(meeting_id))["hostId"])

    async def list_hosted(self, host_id: uuid.UUID, page: int, limit: int, search: str) -> JSON:
        search = search_term(search)  # once: the query and the key use the same text

        async def load() -> JSON:
            meetings, total = await self.repo.page_hosted(host_id, page, limit, search)
            return _page_json(meetings, total, page, limit)

        return await self._read(keys.meeting_list(host_id, page, limit, search), load)

    async def upcoming(self, host_id: uuid.UUID, limit: int) -> list[JSON]:
        """The host's meetings with `startTime` ≥ now, soonest first.

        A meeting passes from upcoming to past without any write, so nothing invalidates
        this list then: a cached page may show a meeting that started up to the family TTL
        (5 minutes) ago. Every write to the host's meetings still invalidates it at once.
        """

        async def load() -> list[JSON]:
            return [_meeting_json(m) for m in await self.repo.upcoming(host_id, utcnow(), limit)]

        return await self._read(keys.meeting_upcoming(host_id, limit), load)

    async def past(self, host_id: uuid.UUID, page: int, limit: int) -> JSON:
        """Latest first; like `upcoming`, the boundary with now is bounded by the TTL."""

        async def load() -> JSON:
            meetings, total = await self.repo.page_past(host_id, utcnow(), page, limit)
            return _page_json(meetings, total, page, limit)

        return await self._read(keys.meeting_past(host_id, page, limit), load)

    async def joined(self, user_id: uuid.UUID, page: int, limit: int) -> JSON:
        async def load() -> JSON:
            meetings, total = await self.repo.page_joined(user_id, page, limit)
            return _page_json(meetings, total, page, limit)

        return await self._read(keys.meeting_joined(user_id, page, limit), load)

    # -- host writes ----------------------------------------------------------------------

    async def _hosted(self, meeting_id: uuid.UUID, user_id: uuid.UUID) -> Meeting:
        """The meeting from the database (writes never trust a cached copy), host only."""
        meeting = await self.repo.get(meeting_id)
        if meeting is None:
            raise MeetingNotFound()
        if meeting.host_id != user_id:
            raise Forbidden("Only the host may change this meeting")
        return meeting

    async def create(self, host_id: uuid.UUID, body: MeetingCreate) -> JSON:
        meeting = Meeting(
            name=body.name,
            description=body.description,
            start_time=body.start_time,
            duration=body.duration,
            host_id=host_id,
        )
        meeting.participants = [
            Participant(name=p.name, avatar_url=p.avatar_url) for p in body.participants
        ]
        self.repo.add(meeting)
        await self.uow.session.flush()
        self.uow.record(MeetingChanged(meeting.id))
        created = await self.repo.get(meeting.id)
        assert created is not None
        return _meeting_json(created)

    async def update(self, meeting_id: uuid.UUID, user_id: uuid.UUID, body: MeetingUpdate) -> JSON:
        meeting = await self._hosted(meeting_id, user_id)
        if body.name is not None:
            meeting.name = body.name
        if body.start_time is not None:
            meeting.start_time = body.start_time
        given = body.model_fields_set
        if "description" in given:
            meeting.description = body.description
        if "duration" in given:
            meeting.duration = body.duration
        return await self._save(meeting)

    async def set_active(self, meeting_id: uuid.UUID, user_id: uuid.UUID, active: bool) -> JSON:
        """Start (True) or end (False) the meeting."""
        meeting = await self._hosted(meeting_id, user_id)
        meeting.is_active = active
        return await self._save(meeting)

    async def _save(self, meeting: Meeting) -> JSON:
        if self.uow.session.is_modified(meeting):
            await self.uow.session.flush()
            self.uow.record(MeetingChanged(meeting.id))
        return _meeting_json(meeting)

    async def delete(self, meeting_id: uuid.UUID, user_id: uuid.UUID) -> None:
        await self._hosted(meeting_id, user_id)
        # Who it showed up for, read under its row lock: nothing is left after the commit.
        audience = await self.repo.lock_for_delete(meeting_id)
        if audience is None:
            raise MeetingNotFound()
        host_id, user_ids = audience
        await self.repo.delete(meeting_id)
        self.uow.record(MeetingDeleted(meeting_id, host_id, user_ids))

    # -- joins and leaves -----------------------------------------------------------------

    async def _join(
        self,
        meeting_id: uuid.UUID,
        *,
        name: str,
        avatar_url: str | None,
        user_id: uuid.UUID | None = None,
        public_user_id: uuid.UUID | None = None,
    ) -> JSON:
        """Idempotent and safe under concurrency: one upsert per (meeting, person)."""
        if not await self.repo.exists(meeting_id):
            raise MeetingNotFound()
        try:
            participant = await self.repo.upsert_participant(
                meeting_id,
                name=name,
                avatar_url=avatar_url,
                user_id=user_id,
                public_user_id=public_user_id,
            )
        except IntegrityError:  # the meeting was deleted since the check above
            raise MeetingNotFound() from None
        self.uow.record(MembershipChanged(meeting_id, user_id, public_user_id))
        return _participant_json(await self.repo.participant(participant.id))

    async def _leave(
        self,
        meeting_id: uuid.UUID,
        *,
        user_id: uuid.UUID | None = None,
        public_user_id: uuid.UUID | None = None,
    ) -> JSON:
        """Sets `leftAt` and `isActive` false; leaving again changes nothing."""
        if not await self.repo.exists(meeting_id):
            raise MeetingNotFound()
        participant = await self.repo.find_participant(
            meeting_id, user_id=user_id, public_user_id=public_user_id
        )
        if participant is None:
            raise ParticipantNotFound()
        if participant.is_active:
            participant.is_active = False
            participant.left_at = utcnow()
            await self.uow.session.flush()
            self.uow.record(MembershipChanged(meeting_id, user_id, public_user_id))
        return _participant_json(await self.repo.participant(participant.id))

    async def join(
        self, meeting_id: uuid.UUID, user_id: uuid.UUID, name: str, avatar_url: str | None
    ) -> JSON:
        """The user joins (the row always shows their current username and avatar)."""
        return await self._join(meeting_id, name=name, avatar_url=avatar_url, user_id=user_id)

    async def leave(self, meeting_id: uuid.UUID, user_id: uuid.UUID) -> JSON:
        return await self._leave(meeting_id, user_id=user_id)

    async def join_as_guest(
        self, meeting_id: uuid.UUID, public_user_id: uuid.UUID, name: str
    ) -> dict[str, Any]:
        return await self._join(
            meeting_id, name=name, avatar_url=None, public_user_id=public_user_id
        )

    async def leave_as_guest(
        self, meeting_id: uuid.UUID, public_user_id: uuid.UUID
    ) -> dict[str, Any]:
        return await self._leave(meeting_id, public_user_id=public_user_id)
