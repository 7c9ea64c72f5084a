"""`/public-users`: guests, identified by a session id, with no account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from gomeet.deps import CacheDep, UnitOfWorkDep, UnitOfWorkRoute
from gomeet.errors import ValidationFailed
from gomeet.meetings.schemas import ParticipantOut
from gomeet.meetings.service import MeetingNotFound, ParticipantNotFound
from gomeet.openapi import Envelope, raises
from gomeet.public_users.schemas import (
    GuestMeetingRequest,
    PublicUserCreate,
    PublicUserOut,
    PublicUserUpdate,
    SessionId,
)
from gomeet.public_users.service import PublicUserNotFound, PublicUserService
from gomeet.responses import JsonResponse, ok

router = APIRouter(tags=["public-users"], route_class=UnitOfWorkRoute)


async def get_public_user_service(uow: UnitOfWorkDep, cache: CacheDep) -> PublicUserService:
    return PublicUserService(uow=uow, cache=cache)


Service = Annotated[PublicUserService, Depends(get_public_user_service)]

# The routes say `{session_id:path}`, so that an id holding `/` (sent as %2F) reaches them.
SessionPath = Annotated[SessionId, Path()]
INVALID_MEETING_ID = ValidationFailed("meetingId must be a UUID", code="INVALID_MEETING_ID")


@router.post(
    "",
    status_code=201,
    response_model=Envelope[PublicUserOut],
    responses={200: {"model": Envelope[PublicUserOut], "description": "existing session: renamed"}},
)
async def create_public_user(body: PublicUserCreate, service: Service) -> JsonResponse:
    data, created = await service.create(body.session_id, body.name)
    if created:
        return ok(data, "Public user created", status_code=201)
    return ok(data, "Public user updated")


@router.get("/session/{session_id:path}", response_model=Envelope[PublicUserOut])
@raises(PublicUserNotFound)
async def get_public_user(session_id: SessionPath, service: Service) -> JsonResponse:
    return ok(await service.get(session_id))


@router.put("/session/{session_id:path}", response_model=Envelope[PublicUserOut])
@raises(PublicUserNotFound)
async def update_public_user(
    session_id: SessionPath, body: PublicUserUpdate, service: Service
) -> JsonResponse:
    data = await service.rename(session_id, body.name)
    return ok(data, "Public user updated")


@router.post("/join-meeting", response_model=Envelope[ParticipantOut])
@raises(PublicUserNotFound, INVALID_MEETING_ID, MeetingNotFound)
async def join_meeting(body: GuestMeetingRequest, service: Service) -> JsonResponse:
    data = await service.join_meeting(body.session_id, body.meeting_id)
    return ok(data, "Joined meeting")


@router.post("/leave-meeting", response_model=Envelope[ParticipantOut])
@raises(PublicUserNotFound, INVALID_MEETING_ID, MeetingNotFound, ParticipantNotFound)
async def leave_meeting(body: GuestMeetingRequest, service: Service) -> JsonResponse:
    data = await service.leave_meeting(body.session_id, body.meeting_id)
    return ok(data, "Left meeting")
