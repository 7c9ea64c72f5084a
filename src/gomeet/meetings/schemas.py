"""Meeting request bodies and response shapes (CONTRACT §3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BeforeValidator,
    Field,
    computed_field,
    model_validator,
)

from gomeet.schemas import (
    AvatarUrl,
    CamelModel,
    MultiLineText,
    Pagination,
    RequestModel,
    SingleLineText,
)

DESCRIPTION_MAX_LENGTH = 2000
MAX_DURATION_MINUTES = 24 * 60


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


def _blank_is_none(value: str) -> str | None:
    return value or None


MeetingName = Annotated[SingleLineText, Field(min_length=1, max_length=200)]
# Several lines allowed; a blank description is no description.
MeetingDescription = Annotated[
    MultiLineText, Field(max_length=DESCRIPTION_MAX_LENGTH), AfterValidator(_blank_is_none)
]
# Whole minutes, as a JSON integer (no "30", no 30.5, no true).
DurationMinutes = Annotated[int, Field(strict=True, ge=1, le=MAX_DURATION_MINUTES)]
ParticipantName = Annotated[SingleLineText, Field(min_length=1, max_length=100)]
# A naive time (no offset) is rejected: the server never guesses a time zone.
StartTime = Annotated[AwareDatetime, BeforeValidator(_iso_string), AfterValidator(_to_utc)]


class ParticipantIn(RequestModel):
    name: ParticipantName
    avatar_url: AvatarUrl | None = None


class _NamedMeeting(RequestModel):
    """`title` is another spelling of `name` (the web client's): alone it is the name;
    given with `name`, the two must agree."""

    name: MeetingName | None = None
    title: MeetingName | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _title_alone_is_the_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name") is None and "title" in data:
            data = {**data, "name": data["title"]}
            del data["title"]
        return data

    @model_validator(mode="after")
    def _title_agrees_with_name(self) -> _NamedMeeting:
        if self.title is not None and self.title != self.name:
            raise ValueError("name and title are two spellings of one field and must not differ")
        return self


class MeetingCreate(_NamedMeeting):
    name: MeetingName
    start_time: StartTime
    description: MeetingDescription | None = None
    duration: DurationMinutes | None = None
    participants: list[ParticipantIn] = Field(default_factory=list, max_length=100)


class MeetingUpdate(_NamedMeeting):
    """Absent fields are left unchanged; so are `name` and `startTime` when null, while a
    null `description` or `duration` clears it."""

    start_time: StartTime | None = None
    description: MeetingDescription | None = None
    duration: DurationMinutes | None = None


class MeetingReference(RequestModel):
    """`{meetingId}`, as the web client joins and leaves; a string, parsed by the endpoint
    so that a malformed id gets INVALID_MEETING_ID like the same id in a path."""

    meeting_id: str


class HostOut(CamelModel):
    id: uuid.UUID
    username: str
    avatar_url: str | None


class ParticipantOut(CamelModel):
    """A user's or guest's row shows their current name and avatar (`Participant.shown_*`)."""

    id: uuid.UUID
    user_id: uuid.UUID | None
    public_user_id: uuid.UUID | None
    name: str = Field(validation_alias=AliasChoices("shown_name", "name"))
    avatar_url: str | None = Field(
        validation_alias=AliasChoices("shown_avatar_url", "avatar_url", "avatarUrl")
    )
    is_active: bool
    joined_at: datetime
    left_at: datetime | None


class MeetingOut(CamelModel):
    id: uuid.UUID
    name: str
    description: str | None
    start_time: datetime
    duration: int | None
    host_id: uuid.UUID
    is_active: bool
    host: HostOut
    participants: list[ParticipantOut]
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def title(self) -> str:
        """The web client reads `title`: always the name."""
        return self.name


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
    title: str
    description: str | None
    start_time: datetime
    duration: int | None
    is_active: bool
    host_id: uuid.UUID
    host: PublicHostOut
    participant_count: int

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> PublicMeetingOut:
        """Derived from the (cached) details JSON, so it is as fresh as they are."""
        return cls(
            id=details["id"],
            name=details["name"],
            title=details["name"],
            description=details.get("description"),
            start_time=details["startTime"],
            duration=details.get("duration"),
            is_active=details["isActive"],
            host_id=details["hostId"],
            host=PublicHostOut.model_validate(details["host"]),
            participant_count=sum(1 for p in details["participants"] if p["isActive"]),
        )


class PublicParticipantOut(CamelModel):
    name: str
    avatar_url: str | None
    is_active: bool
