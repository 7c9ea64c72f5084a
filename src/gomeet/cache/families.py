"""Cache families: one per kind of cached value, each with its TTL setting (CONTRACT §4)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Family(StrEnum):
    USER_PROFILE = "user_profile"
    MEETING_DETAILS = "meeting_details"
    PARTICIPANT_LIST = "participant_list"
    FEATURE_FLAG = "feature_flag"
    PUBLIC_USER = "public_user"
    MEETING_LIST = "meeting_list"
    MEETING_JOINED = "meeting_joined"
    MEETING_UPCOMING = "meeting_upcoming"
    MEETING_PAST = "meeting_past"


@dataclass(frozen=True, slots=True)
class CacheKey:
    """A Redis key with its family and, for list pages, the owner index it is registered in.

    `index` names the Redis sorted set of the page keys of one owner and family (capped:
    the oldest page is evicted), so that all pages can be invalidated without scanning the
    keyspace. `cacheable` False: read straight from the loader, never stored (pages past
    the cached range).
    """

    family: Family
    key: str
    index: str | None = None
    cacheable: bool = True
