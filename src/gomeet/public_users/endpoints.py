"""`/public-users`: guests, identified by a session id, with no account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from gomeet.deps import CacheDep, UnitOfWorkDep
from gomeet.public_users.schemas import (
    GuestMeetingRequest,
    PublicUserCreate,
    PublicUserUpdate,
    SessionId,
)
from gomeet.public_users.service import PublicUserService
from gomeet.responses import JsonResponse, ok

router = APIRouter(tags=["public-users"])


def get_public_user_service(uow: UnitOfWorkDep, cache: CacheDep) -> PublicUserService:
    return PublicUserService(uow=uow, cache=cache)


Service = Annotated[PublicUserService, Depends(get_public_user_service)]

# The routes say `{session_id:path}`, so that an id holding `/` (sent as %2F) reaches them.
SessionPath = Annotated[SessionId, Path()]


@router.post("", status_code=201)
async def create_public_user(body: PublicUserCreate, service: Service) -> JsonResponse:
    data, created = await service.create(body.session_id, body.name)
    if created:
        return ok(data, "Public user created", status_code=201)
    return ok(data, "Public user updated")


@router.get("/session/{session_id:path}")
async def get_public_user(session_id: SessionPath, service: Service) -> JsonResponse:
    return ok(await service.get(session_id))


@router.put("/session/{session_id:path}")
async def update_public_user(
    session_id: SessionPath, body: PublicUserUpdate, service: Service
) -> JsonResponse:
    data = await service.rename(session_id, body.name)
    return ok(data, "Public user updated")


@router.post("/join-meeting")
async def join_meeting(body: GuestMeetingRequest, service: Service) -> JsonResponse:
    data = await service.join_meeting(body.session_id, body.meeting_id)
    return ok(data, "Joined meeting")


@router.post("/leave-meeting")
async def leave_meeting(body: GuestMeetingRequest, service: Service) -> JsonResponse:
    data = await service.leave_meeting(body.session_id, body.meeting_id)
    return ok(data, "Left meeting")
