"""Public (guest) user request and response shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from gomeet.schemas import CamelModel, RequestModel

SESSION_ID_MAX_LENGTH = 128


def check_session_id(value: str) -> str:
    """A session id is an opaque secret, kept exactly as sent: printable, no control characters."""
    if not value.isprintable():
        raise ValueError("sessionId must be printable text without control characters")
    return value


# Not stripped: the id is a secret token, and `" a"` and `"a"` are different tokens.
SessionId = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=1, max_length=SESSION_ID_MAX_LENGTH),
    AfterValidator(check_session_id),
]
DisplayName = Annotated[str, Field(min_length=1, max_length=100)]


class PublicUserCreate(RequestModel):
    name: DisplayName
    session_id: SessionId


class PublicUserUpdate(RequestModel):
    name: DisplayName


class GuestMeetingRequest(RequestModel):
    session_id: SessionId
    # A string, parsed by the service so that a malformed id gets INVALID_MEETING_ID.
    meeting_id: str = Field(max_length=64)


class PublicUserOut(CamelModel):
    id: uuid.UUID
    name: str
    session_id: str
    created_at: datetime
