"""`/meetings`: thin handlers; the rules live in MeetingService."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from gomeet.auth.deps import CurrentUser
from gomeet.deps import UnitOfWorkDep, UnitOfWorkRoute
from gomeet.errors import Forbidden, ValidationFailed, parse_uuid
from gomeet.meetings.schemas import (
    MeetingCreate,
    MeetingOut,
    MeetingPage,
    MeetingReference,
    MeetingUpdate,
    ParticipantOut,
    PublicMeetingOut,
    PublicParticipantOut,
)
from gomeet.meetings.service import MeetingNotFound, MeetingService, ParticipantNotFound
from gomeet.openapi import Envelope, raises
from gomeet.responses import JsonResponse, ok
from gomeet.schemas import LimitQuery, PageQuery, SearchQuery

router = APIRouter(route_class=UnitOfWorkRoute)
INVALID_MEETING_ID = ValidationFailed("meeting id must be a UUID", code="INVALID_MEETING_ID")


async def get_meeting_service(request: Request, uow: UnitOfWorkDep) -> MeetingService:
    return MeetingService(uow, request.app.state.cache)


@raises(INVALID_MEETING_ID, MeetingNotFound)
async def meeting_id_path(meeting_id: Annotated[str, Path()]) -> uuid.UUID:
    """A malformed id is a 400 INVALID_MEETING_ID, not a 404 or a 422 (and a well-formed
    one may name no meeting: every route that takes it can answer 404)."""
    return parse_uuid(meeting_id, code="INVALID_MEETING_ID", what="meeting id")


Service = Annotated[MeetingService, Depends(get_meeting_service)]
MeetingId = Annotated[uuid.UUID, Depends(meeting_id_path)]
HOST_ONLY = Forbidden("Only the host may change this meeting")
HOST_OR_PARTICIPANT = Forbidden("Only the host or a participant may see this meeting")

# Fixed paths come before `/{meeting_id}` so that they are not read as ids.


@router.get("", response_model=Envelope[MeetingPage])
async def list_meetings(
    user: CurrentUser,
    service: Service,
    page: PageQuery = 1,
    limit: LimitQuery = 10,
    search: SearchQuery = "",
) -> JsonResponse:
    return ok(await service.list_hosted(user.id, page, limit, search), "Meetings retrieved")


@router.post("", status_code=201, response_model=Envelope[MeetingOut])
async def create_meeting(user: CurrentUser, body: MeetingCreate, service: Service) -> JsonResponse:
    return ok(await service.create(user.id, body), "Meeting created", status_code=201)


@router.get("/upcoming", response_model=Envelope[list[MeetingOut]])
async def upcoming_meetings(
    user: CurrentUser, service: Service, limit: LimitQuery = 5
) -> JsonResponse:
    return ok(await service.upcoming(user.id, limit), "Upcoming meetings retrieved")


@router.get("/past", response_model=Envelope[MeetingPage])
async def past_meetings(
    user: CurrentUser, service: Service, page: PageQuery = 1, limit: LimitQuery = 10
) -> JsonResponse:
    return ok(await service.past(user.id, page, limit), "Past meetings retrieved")


@router.get("/joined", response_model=Envelope[MeetingPage])
async def joined_meetings(
    user: CurrentUser, service: Service, page: PageQuery = 1, limit: LimitQuery = 10
) -> JsonResponse:
    return ok(await service.joined(user.id, page, limit), "Joined meetings retrieved")


# The web client's spellings of `/{meeting_id}/join` and `/leave`: the same handlers.


@router.post("/join", response_model=Envelope[ParticipantOut])
@raises(INVALID_MEETING_ID, MeetingNotFound)
async def join_meeting_by_body(
    user: CurrentUser, body: MeetingReference, service: Service
) -> JsonResponse:
    return await join_meeting(user, await meeting_id_path(body.meeting_id), service)


@router.post("/leave", response_model=Envelope[ParticipantOut])
@raises(INVALID_MEETING_ID, MeetingNotFound, ParticipantNotFound)
async def leave_meeting_by_body(
    user: CurrentUser, body: MeetingReference, service: Service
) -> JsonResponse:
    return await leave_meeting(user, await meeting_id_path(body.meeting_id), service)


@router.get("/{meeting_id}", response_model=Envelope[MeetingOut])
@raises(HOST_OR_PARTICIPANT)
async def get_meeting(user: CurrentUser, meeting_id: MeetingId, service: Service) -> JsonResponse:
    return ok(await service.get(meeting_id, user.id), "Meeting retrieved")


@router.put("/{meeting_id}", response_model=Envelope[MeetingOut])
@raises(HOST_ONLY)
async def update_meeting(
    user: CurrentUser, meeting_id: MeetingId, body: MeetingUpdate, service: Service
) -> JsonResponse:
    return ok(await service.update(meeting_id, user.id, body), "Meeting updated")


@router.delete("/{meeting_id}", response_model=Envelope[None])
@raises(HOST_ONLY)
async def delete_meeting(
    user: CurrentUser, meeting_id: MeetingId, service: Service
) -> JsonResponse:
    await service.delete(meeting_id, user.id)
    return ok(None, "Meeting deleted")


@router.patch("/{meeting_id}/start", response_model=Envelope[MeetingOut])
@raises(HOST_ONLY)
async def start_meeting(user: CurrentUser, meeting_id: MeetingId, service: Service) -> JsonResponse:
    return ok(await service.set_active(meeting_id, user.id, True), "Meeting started")


@router.patch("/{meeting_id}/end", response_model=Envelope[MeetingOut])
@raises(HOST_ONLY)
async def end_meeting(user: CurrentUser, meeting_id: MeetingId, service: Service) -> JsonResponse:
    return ok(await service.set_active(meeting_id, user.id, False), "Meeting ended")


@router.post("/{meeting_id}/join", response_model=Envelope[ParticipantOut])
async def join_meeting(user: CurrentUser, meeting_id: MeetingId, service: Service) -> JsonResponse:
    data = await service.join(meeting_id, user.id, user.username, user.avatar_url)
    return ok(data, "Joined meeting")


@router.post("/{meeting_id}/leave", response_model=Envelope[ParticipantOut])
@raises(ParticipantNotFound)
async def leave_meeting(user: CurrentUser, meeting_id: MeetingId, service: Service) -> JsonResponse:
    return ok(await service.leave(meeting_id, user.id), "Left meeting")


@router.get("/{meeting_id}/participants", response_model=Envelope[list[ParticipantOut]])
@raises(HOST_OR_PARTICIPANT)
async def meeting_participants(
    user: CurrentUser, meeting_id: MeetingId, service: Service
) -> JsonResponse:
    return ok(await service.participants(meeting_id, user.id), "Participants retrieved")


@router.get("/{meeting_id}/public", response_model=Envelope[PublicMeetingOut])
async def public_meeting(meeting_id: MeetingId, service: Service) -> JsonResponse:
    """No authentication: what a guest with the link sees."""
    return ok(await service.public(meeting_id), "Meeting retrieved")


@router.get(
    "/{meeting_id}/participants/public", response_model=Envelope[list[PublicParticipantOut]]
)
async def public_participants(meeting_id: MeetingId, service: Service) -> JsonResponse:
    """No authentication: names, avatars and presence only."""
    return ok(await service.public_participants(meeting_id), "Participants retrieved")
