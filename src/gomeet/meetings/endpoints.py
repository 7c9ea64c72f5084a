"""`/meetings`: thin handlers; the rules live in MeetingService."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from gomeet.auth.deps import CurrentUser
from gomeet.deps import CacheDep, UnitOfWorkDep
from gomeet.errors import parse_uuid
from gomeet.meetings.schemas import MeetingCreate, MeetingUpdate
from gomeet.meetings.service import MeetingService
from gomeet.responses import JsonResponse, ok
from gomeet.schemas import LimitQuery, PageQuery, SearchQuery

router = APIRouter()


def get_meeting_service(uow: UnitOfWorkDep, cache: CacheDep) -> MeetingService:
    return MeetingService(uow, cache)


def meeting_id_path(meeting_id: Annotated[str, Path()]) -> uuid.UUID:
    """A malformed id is a 400 INVALID_MEETING_ID, not a 404 or a 422."""
    return parse_uuid(meeting_id, code="INVALID_MEETING_ID", what="meeting id")


Service = Annotated[MeetingService, Depends(get_meeting_service)]
MeetingId = Annotated[uuid.UUID, Depends(meeting_id_path)]

# Fixed paths come before `/{meeting_id}` so that they are not read as ids.


@router.get("")
async def list_meetings(
    user: CurrentUser,
    service: Service,
    page: PageQuery = 1,
    limit: LimitQuery = 10,
    search: SearchQuery = "",
) -> JsonResponse:
    return ok(await service.list_hosted(user.id, page, limit, search), "Meetings retrieved")


@router.post("", status_code=201)
async def create_meeting(user: CurrentUser, body: MeetingCreate, service: Service) -> JsonResponse:
    return ok(await service.create(user.id, body), "Meeting created", status_code=201)


@router.get("/upcoming")
async def upcoming_meetings(
    user: CurrentUser, service: Service, limit: LimitQuery = 5
) -> JsonResponse:
    return ok(await service.upcoming(user.id, limit), "Upcoming meetings retrieved")


@router.get("/past")
async def past_meetings(
    user: CurrentUser, service: Service, page: PageQuery = 1, limit: LimitQuery = 10
) -> JsonResponse:
    return ok(await service.past(user.id, page, limit), "Past meetings retrieved")


@router.get("/joined")
async def joined_meetings(
    user: CurrentUser, service: Service, page: PageQuery = 1, limit: LimitQuery = 10
) -> JsonResponse:
    return ok(await service.joined(user.id, page, limit), "Joined meetings retrieved")


@router.get("/{meeting_id}")
async def get_meeting(user: CurrentUser, meeting_id: MeetingId, service: Service) -> JsonResponse:
    return ok(await service.get(meeting_id, user.id), "Meeting retrieved")


@router.put("/{meeting_id}")
async def update_meeting(
    user: CurrentUser, meeting_id: MeetingId, body: MeetingUpdate, service: Service
) -> JsonResponse:
    return ok(await service.update(meeting_id, user.id, body), "Meeting updated")


@router.delete("/{meeting_id}")
async def delete_meeting(
    user: CurrentUser, meeting_id: MeetingId, service: Service
) -> JsonResponse:
    await service.delete(meeting_id, user.id)
    return ok(None, "Meeting deleted")


@router.patch("/{meeting_id}/start")
async def start_meeting(user: CurrentUser, meeting_id: MeetingId, service: Service) -> JsonResponse:
    return ok(await service.set_active(meeting_id, user.id, True), "Meeting started")


@router.patch("/{meeting_id}/end")
async def end_meeting(user: CurrentUser, meeting_id: MeetingId, service: Service) -> JsonResponse:
    return ok(await service.set_active(meeting_id, user.id, False), "Meeting ended")


@router.post("/{meeting_id}/join")
async def join_meeting(user: CurrentUser, meeting_id: MeetingId, service: Service) -> JsonResponse:
    data = await service.join(meeting_id, user.id, user.username, user.avatar_url)
    return ok(data, "Joined meeting")


@router.post("/{meeting_id}/leave")
async def leave_meeting(user: CurrentUser, meeting_id: MeetingId, service: Service) -> JsonResponse:
    return ok(await service.leave(meeting_id, user.id), "Left meeting")


@router.get("/{meeting_id}/participants")
async def meeting_participants(
    user: CurrentUser, meeting_id: MeetingId, service: Service
) -> JsonResponse:
    return ok(await service.participants(meeting_id, user.id), "Participants retrieved")


@router.get("/{meeting_id}/public")
async def public_meeting(meeting_id: MeetingId, service: Service) -> JsonResponse:
    """No authentication: what a guest with the link sees."""
    return ok(await service.public(meeting_id), "Meeting retrieved")


@router.get("/{meeting_id}/participants/public")
async def public_participants(meeting_id: MeetingId, service: Service) -> JsonResponse:
    """No authentication: names, avatars and presence only."""
    return ok(await service.public_participants(meeting_id), "Participants retrieved")
