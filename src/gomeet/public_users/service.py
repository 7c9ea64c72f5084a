"""Public (guest) users: identified by a client-chosen session id, which is a secret.

Reads by session go through the `public_user` cache family; creates and renames record a
`GuestChanged`, which invalidates that key and every meeting the guest takes part in after
the commit. Session ids only reach logs masked.
"""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import Any

import structlog

from gomeet.cache import CacheRepository, keys
from gomeet.changes import GuestChanged
from gomeet.db import UnitOfWork
from gomeet.errors import NotFound, parse_uuid
from gomeet.meetings.service import MeetingService
from gomeet.public_users.models import PublicUser
from gomeet.public_users.repository import PublicUserRepository
from gomeet.public_users.schemas import PublicUserOut
from gomeet.text import mask

log = structlog.get_logger("gomeet.public_users")


class PublicUserNotFound(NotFound):
    """Code `NOT_FOUND`: the web client tests for exactly that to treat a session as new."""

    message = "Public user not found"


def _to_json(row: PublicUser) -> dict[str, Any]:
    return PublicUserOut.model_validate(row).to_json()


class PublicUserService:
    def __init__(self, *, uow: UnitOfWork, cache: CacheRepository) -> None:
        self.uow = uow
        self.cache = cache

    @cached_property
    def repo(self) -> PublicUserRepository:
        """Made on first use: the unit of work opens its session for the first query only."""
        return PublicUserRepository(self.uow.session)

    async def create(self, session_id: str, name: str) -> tuple[dict[str, Any], bool]:
        """The public user of this session, created or renamed; True when created."""
        row, created = await self.repo.upsert(session_id, name)
        self.uow.record(GuestChanged(row.id))
        log.info(
            "public_user_created" if created else "public_user_renamed",
            session_id=mask(session_id),
            public_user_id=str(row.id),
        )
        return _to_json(row), created

    async def get(self, session_id: str) -> dict[str, Any]:
        async def load() -> dict[str, Any] | None:
            row = await self.repo.get_by_session(session_id)
            return _to_json(row) if row else None

        value: dict[str, Any] | None = await self.cache.get_or_load(
            keys.public_user(session_id), load
        )
        if value is None:
            raise PublicUserNotFound()
        return value

    async def rename(self, session_id: str, name: str) -> dict[str, Any]:
        row = await self.repo.rename(session_id, name)
        if row is None:
            raise PublicUserNotFound()
        self.uow.record(GuestChanged(row.id))
        return _to_json(row)

    async def _guest(self, session_id: str, meeting_id: str) -> tuple[PublicUser, uuid.UUID]:
        """The meeting id (400 if malformed, checked first) and the guest's row, read from
        the database: joins and leaves are writes, so no cached copy is trusted."""
        parsed = parse_uuid(meeting_id, code="INVALID_MEETING_ID", what="meetingId")
        row = await self.repo.get_by_session(session_id)
        if row is None:
            raise PublicUserNotFound()
        return row, parsed

    async def join_meeting(self, session_id: str, meeting_id: str) -> dict[str, Any]:
        """The guest joins (their row shows their current name)."""
        guest, parsed = await self._guest(session_id, meeting_id)
        meetings = MeetingService(self.uow, self.cache)
        return await meetings.join_as_guest(parsed, guest.id, guest.name)

    async def leave_meeting(self, session_id: str, meeting_id: str) -> dict[str, Any]:
        guest, parsed = await self._guest(session_id, meeting_id)
        return await MeetingService(self.uow, self.cache).leave_as_guest(parsed, guest.id)
