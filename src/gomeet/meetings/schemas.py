"""Meeting request bodies and response shapes (CONTRACT §3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

from gomeet.schemas import (
    AvatarUrl,
    CamelModel,
    Pagination,
    RequestModel,
    SingleLineText,
)


def _iso_string(value: object) -> object:
    """Times come as ISO 8601 text; numbers (epoch seconds) are refused, not guessed at."""
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time string with a UTC offset")
    return value


def _to_utc(value: datetime) -> datetime:
    """Near the limits of `datetime` (year 1 or 9999) the UTC time may not exist."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be a date-time between years 1 and 9999 in UTC") from None


MeetingName = Annotated[SingleLineText, Field(min_length=1, max_length=200)]
ParticipantName = Annotated[SingleLineText, Field(min_length=1, max_length=100)]
# A naive time (no offset) is rejected: the server never guesses a time zone.
StartTime = Annotated[AwareDatetime, BeforeValidator(_iso_string), AfterValidator(_to_utc)]


class ParticipantIn(RequestModel):
    name: ParticipantName
    avatar_url: AvatarUrl | None = None


class MeetingCreate(RequestModel):
    name: MeetingName
    start_time: StartTime
    participants: list[ParticipantIn] = Field(default_factory=list, max_length=100)


class MeetingUpdate(RequestModel):
    """Absent (or null) fields are left unchanged."""

    name: MeetingName | None = None
    start_time: StartTime | None = None


class HostOut(CamelModel):
    id: uuid.UUID
    username: str
    avatar_url: str | None


class ParticipantOut(CamelModel):
    id: uuid.UUID
    user_id: uuid.UUID | None
    public_user_id: uuid.UUID | None
    name: str
    avatar_url: str | None
    is_active: bool
    joined_at: datetime
    left_at: datetime | None


class MeetingOut(CamelModel):
    id: uuid.UUID
    name: str
    start_time: datetime
    host_id: uuid.UUID
    is_active: bool
    host: HostOut
    participants: list[ParticipantOut]
    created_at: datetime
    updated_at: datetime


class MeetingPage(CamelModel):
    meetings: list[MeetingOut]
    pagination: Pagination


class PublicHostOut(CamelModel):
    username: str
    avatar_url: str | None


class PublicMeetingOut(CamelModel):
    """What anyone with the link may see: no e-mail, no ids of people, no session id."""

    id: uuid.UUID
    name: str
    start_time: datetime
    is_active: bool
    host: PublicHostOut
    participant_count: int

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> PublicMeetingOut:
        """Derived from the (cached) details JSON, so it is as fresh as they are."""
        return cls(
            id=details["id"],
            name=details["name"],
            start_time=details["startTime"],
            is_active=details["isActive"],
            host=PublicHostOut.model_validate(details["host"]),
            participant_count=sum(1 for p in details["participants"] if p["isActive"]),
        )


class PublicParticipantOut(CamelModel):
    name: str
    avatar_url: str | None
    is_active: bool
