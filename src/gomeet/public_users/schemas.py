"""Public (guest) user request and response shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from gomeet.schemas import CamelModel, RequestModel, SingleLineText, check_single_line

SESSION_ID_MAX_LENGTH = 128

# An opaque secret, kept exactly as sent (not stripped, not normalised: `" a"` and `"a"` are
# different tokens), on one line and without control characters.
SessionId = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=1, max_length=SESSION_ID_MAX_LENGTH),
    AfterValidator(check_single_line),
]
DisplayName = Annotated[SingleLineText, Field(min_length=1, max_length=100)]


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
