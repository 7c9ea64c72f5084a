"""`/turn`: ICE servers for the web client's peer connections (CONTRACT §6.12)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from gomeet.auth.deps import OptionalUser
from gomeet.deps import SettingsDep, UnitOfWorkRoute
from gomeet.errors import ValidationFailed, parse_uuid
from gomeet.openapi import Envelope, raises
from gomeet.responses import JsonResponse, ok
from gomeet.turn.schemas import IceServersOut
from gomeet.turn.service import IceServerService

router = APIRouter(tags=["turn"], route_class=UnitOfWorkRoute)


async def get_ice_server_service(settings: SettingsDep) -> IceServerService:
    return IceServerService(settings)


Service = Annotated[IceServerService, Depends(get_ice_server_service)]


@router.get("/ice-servers", response_model=Envelope[IceServersOut])
@raises(ValidationFailed("meetingId must be a UUID", code="INVALID_MEETING_ID"))
async def ice_servers(
    user: OptionalUser,
    service: Service,
    meeting_id: Annotated[
        str | None, Query(alias="meetingId", description="optional; has no effect")
    ] = None,
) -> JsonResponse:
    """No token: STUN only. A valid bearer token: TURN entries too, when configured."""
    if meeting_id is not None:
        parse_uuid(meeting_id, code="INVALID_MEETING_ID", what="meetingId")
    data = service.ice_servers(signed_in=user is not None).to_json_without_nulls()
    response = ok(data, "ICE servers retrieved")
    response.headers["Cache-Control"] = "no-store"  # the credential is per caller and expires
    return response
