"""Request shapes of the cache admin endpoints."""

from __future__ import annotations

from pydantic import Field

from gomeet.admin.warm import DEFAULT_MEETINGS, DEFAULT_USERS, MAX_TARGETS, WarmLimits
from gomeet.schemas import RequestModel


class WarmRequest(RequestModel):
    """How many recently active users and meetings in progress to warm (all optional)."""

    max_users: int = Field(default=DEFAULT_USERS, ge=0, le=MAX_TARGETS)
    max_meetings: int = Field(default=DEFAULT_MEETINGS, ge=0, le=MAX_TARGETS)

    def limits(self) -> WarmLimits:
        return WarmLimits(users=self.max_users, meetings=self.max_meetings)
