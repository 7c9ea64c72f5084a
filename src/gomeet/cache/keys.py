"""The one place where cache keys are built; user-supplied parts are normalised and encoded.

`search` and `sessionID` come from users: they are case-folded where the database treats
spellings alike, and percent-encoded so that a key never holds a glob character
(`*?[]\\`), a `:`, `%` or white space.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from gomeet.cache.families import CacheKey, Family
from gomeet.text import search_term

STATS_KEY = "cache:stats"
_SAFE = "-._~!$&'()+,;=@"  # unreserved and sub-delims, minus anything with meaning in a key


def encode_part(value: str) -> str:
    """Percent-encode a user-supplied key part: no glob characters, `:` or white space."""
    return quote(value, safe=_SAFE)


def normalise_search(search: str | None) -> str:
    """Search is a case-insensitive substring match: spellings the database treats alike match."""
    return encode_part(search_term(search))


def _id(value: uuid.UUID | str) -> str:
    return str(value).lower()


def index_key(family: Family, owner: uuid.UUID | str) -> str:
    return f"index:{family.value}:{_id(owner)}"


def user_profile(user_id: uuid.UUID | str) -> CacheKey:
    return CacheKey(Family.USER_PROFILE, f"user:profile:{_id(user_id)}")


def meeting_details(meeting_id: uuid.UUID | str) -> CacheKey:
    return CacheKey(Family.MEETING_DETAILS, f"meeting:details:{_id(meeting_id)}")


def participant_list(meeting_id: uuid.UUID | str) -> CacheKey:
    return CacheKey(Family.PARTICIPANT_LIST, f"meeting:participants:{_id(meeting_id)}")


def feature_flag(name: str) -> CacheKey:
    return CacheKey(Family.FEATURE_FLAG, f"feature_flag:{encode_part(name)}")


def public_user(session_id: str) -> CacheKey:
    return CacheKey(Family.PUBLIC_USER, f"public_user:{encode_part(session_id)}")


def meeting_list(host_id: uuid.UUID | str, page: int, limit: int, search: str | None) -> CacheKey:
    key = f"meeting:list:{_id(host_id)}:page:{page}:limit:{limit}:search:{normalise_search(search)}"
    return CacheKey(Family.MEETING_LIST, key, index_key(Family.MEETING_LIST, host_id))


def meeting_joined(user_id: uuid.UUID | str, page: int, limit: int) -> CacheKey:
    key = f"meeting:joined:{_id(user_id)}:page:{page}:limit:{limit}"
    return CacheKey(Family.MEETING_JOINED, key, index_key(Family.MEETING_JOINED, user_id))


def meeting_upcoming(host_id: uuid.UUID | str, limit: int) -> CacheKey:
    key = f"meeting:upcoming:{_id(host_id)}:limit:{limit}"
    return CacheKey(Family.MEETING_UPCOMING, key, index_key(Family.MEETING_UPCOMING, host_id))


def meeting_past(host_id: uuid.UUID | str, page: int, limit: int) -> CacheKey:
    key = f"meeting:past:{_id(host_id)}:page:{page}:limit:{limit}"
    return CacheKey(Family.MEETING_PAST, key, index_key(Family.MEETING_PAST, host_id))


HOST_LIST_FAMILIES = (Family.MEETING_LIST, Family.MEETING_UPCOMING, Family.MEETING_PAST)
LIST_FAMILIES = (*HOST_LIST_FAMILIES, Family.MEETING_JOINED)

# The fixed start of every key of a family (CONTRACT §4); no prefix is a prefix of another.
PREFIXES: dict[Family, str] = {
    Family.USER_PROFILE: "user:profile:",
    Family.MEETING_DETAILS: "meeting:details:",
    Family.PARTICIPANT_LIST: "meeting:participants:",
    Family.FEATURE_FLAG: "feature_flag:",
    Family.PUBLIC_USER: "public_user:",
    Family.MEETING_LIST: "meeting:list:",
    Family.MEETING_JOINED: "meeting:joined:",
    Family.MEETING_UPCOMING: "meeting:upcoming:",
    Family.MEETING_PAST: "meeting:past:",
}

_GLOB = str.maketrans({c: "\\" + c for c in "*?[]\\"})


def escape_glob(text: str) -> str:
    """Escape a literal part of a `SCAN MATCH` / `delete_by_pattern` pattern."""
    return text.translate(_GLOB)


def family_of(name: str) -> Family | None:
    """The family a key belongs to, from its prefix; None for other keys."""
    for family, prefix in PREFIXES.items():
        if name.startswith(prefix):
            return family
    return None


def family_patterns(family: Family) -> list[str]:
    """Glob patterns matching every key of a family, list-page owner indexes included."""
    patterns = [escape_glob(PREFIXES[family]) + "*"]
    if family in LIST_FAMILIES:
        patterns.append(escape_glob(f"index:{family.value}:") + "*")
    return patterns
