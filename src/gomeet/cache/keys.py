"""The one place where cache keys are built; user-supplied parts are encoded.

`search` and `sessionID` come from users: they are percent-encoded so that a key never
holds a glob character (`*?[]\\`), a `:`, `%` or white space. A search is keyed by its
`gomeet.text.search_term`, which is idempotent: the term a query was built from keys as
itself, and spellings that normalise alike share a key.

List pages are bounded per owner: only pages up to `MAX_CACHED_PAGE` are cached, and each
owner index keeps at most `CacheOptions.max_list_pages` pages (the oldest is evicted).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from urllib.parse import quote, unquote

from gomeet.cache.families import CacheKey, Family
from gomeet.text import mask, search_term

STATS_KEY = "cache:stats"
_PUBLIC_USER = "public_user:"
MAX_CACHED_PAGE = 10  # list pages past this one are served uncached
_SAFE = "-._~!$&'()+,;=@"  # unreserved and sub-delims, minus anything with meaning in a key


def encode_part(value: str) -> str:
    """Percent-encode a user-supplied key part: no glob characters, `:` or white space."""
    return quote(value, safe=_SAFE)


def search_part(search: str | None) -> str:
    """The key part of a search: `search_term` (idempotent, so the term the query was built
    from keys as itself), percent-encoded."""
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


def _page(family: Family, owner: uuid.UUID | str, key: str, page: int = 1) -> CacheKey:
    return CacheKey(family, key, index_key(family, owner), page <= MAX_CACHED_PAGE)


def meeting_list(host_id: uuid.UUID | str, page: int, limit: int, search: str | None) -> CacheKey:
    key = f"meeting:list:{_id(host_id)}:page:{page}:limit:{limit}:search:{search_part(search)}"
    return _page(Family.MEETING_LIST, host_id, key, page)


def meeting_joined(user_id: uuid.UUID | str, page: int, limit: int) -> CacheKey:
    key = f"meeting:joined:{_id(user_id)}:page:{page}:limit:{limit}"
    return _page(Family.MEETING_JOINED, user_id, key, page)


def meeting_upcoming(host_id: uuid.UUID | str, limit: int) -> CacheKey:
    key = f"meeting:upcoming:{_id(host_id)}:limit:{limit}"
    return _page(Family.MEETING_UPCOMING, host_id, key)


def meeting_past(host_id: uuid.UUID | str, page: int, limit: int) -> CacheKey:
    key = f"meeting:past:{_id(host_id)}:page:{page}:limit:{limit}"
    return _page(Family.MEETING_PAST, host_id, key, page)


def family_of_index(index: str) -> Family | None:
    """The family of an owner index key (`index:<family>:<owner>`)."""
    parts = index.split(":", 2)
    if len(parts) == 3 and parts[0] == "index":
        try:
            return Family(parts[1])
        except ValueError:
            return None
    return None


def display_key(name: str) -> str:
    """The key as it may appear in logs: session IDs masked (idempotent)."""
    if name.startswith(_PUBLIC_USER) and not name.endswith("…"):
        return _PUBLIC_USER + mask(name[len(_PUBLIC_USER) :])
    return name


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


@dataclass(frozen=True, slots=True)
class KeyParts:
    """What a key was built from (`parse`): the family, the id or name it is about (an
    owner for list pages; a flag name or session id decoded), and a page's coordinates."""

    family: Family
    subject: str
    page: int | None = None
    limit: int | None = None
    search: str | None = None


_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_PAGED = re.compile(rf"({_UUID}):page:(\d+):limit:(\d+)(?::search:([^:]*))?")
_UPCOMING = re.compile(rf"({_UUID}):limit:(\d+)")


def parse(name: str) -> KeyParts | None:
    """The inverse of the builders above, for a key read back from Redis (the hot-key record,
    for warming); None for anything they would not have built."""
    family = family_of(name)
    if family is None:
        return None
    rest = name[len(PREFIXES[family]) :]
    if family in (Family.FEATURE_FLAG, Family.PUBLIC_USER):
        return KeyParts(family, unquote(rest)) if rest and ":" not in rest else None
    if family is Family.MEETING_UPCOMING:
        match = _UPCOMING.fullmatch(rest)
        return KeyParts(family, match[1], limit=int(match[2])) if match else None
    if family in LIST_FAMILIES:
        match = _PAGED.fullmatch(rest)
        if match is None or (match[4] is None) != (family is not Family.MEETING_LIST):
            return None
        search = unquote(match[4]) if match[4] is not None else None
        return KeyParts(family, match[1], int(match[2]), int(match[3]), search)
    return KeyParts(family, rest) if re.fullmatch(_UUID, rest) else None
