"""What a write changed, as services record it (`uow.record(...)`): facts, not cache keys.

The unit of work writes them to the transactional outbox in the write's own transaction;
after the commit, `gomeet.consistency` maps each change to the cached values it makes stale
(reading committed rows, so a concurrent join can't be missed) and invalidates them. The
records are stored as JSON (`encode` / `decode`).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, fields
from typing import Any, Final

import orjson


@dataclass(frozen=True, slots=True)
class MeetingChanged:
    """A meeting was created or its own fields changed (name, time, state, …)."""

    meeting_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class MeetingDeleted:
    """A meeting is gone, with who it showed up for, read under its row lock before the
    delete (after the commit there is nothing left to read)."""

    meeting_id: uuid.UUID
    host_id: uuid.UUID
    user_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True, slots=True)
class MembershipChanged:
    """A user or a guest joined or left a meeting (or reconnected to it)."""

    meeting_id: uuid.UUID
    user_id: uuid.UUID | None = None
    public_user_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class UserChanged:
    """A user's account changed. `shown`: their username or avatar, which every meeting
    they host or take part in shows; otherwise only their own profile (role, e-mail,
    revoked tokens)."""

    user_id: uuid.UUID
    shown: bool = False


@dataclass(frozen=True, slots=True)
class GuestChanged:
    """A guest (public user) was created or renamed."""

    public_user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class FlagChanged:
    name: str


Change = (
    MeetingChanged | MeetingDeleted | MembershipChanged | UserChanged | GuestChanged | FlagChanged
)

_KINDS: Final[dict[str, type[Change]]] = {
    "meeting": MeetingChanged,
    "meeting_deleted": MeetingDeleted,
    "membership": MembershipChanged,
    "user": UserChanged,
    "guest": GuestChanged,
    "flag": FlagChanged,
}
_NAMES: Final = {kind: name for name, kind in _KINDS.items()}
_UUID_FIELDS: Final = {"meeting_id", "host_id", "user_id", "public_user_id"}


def encode(changes: list[Change]) -> str:
    items = [{"kind": _NAMES[type(c)], **asdict(c)} for c in changes]
    return orjson.dumps(items, default=str).decode()  # asyncpg has a UUID type of its own


def decode(text: str) -> list[Change]:
    out: list[Change] = []
    for item in orjson.loads(text):
        kind = _KINDS[item.pop("kind")]
        names = {f.name for f in fields(kind)}
        out.append(kind(**{k: _value(k, v) for k, v in item.items() if k in names}))
    return out


def _value(field: str, value: Any) -> Any:
    if value is None:
        return None
    if field in _UUID_FIELDS:
        return uuid.UUID(value)
    if field == "user_ids":
        return tuple(uuid.UUID(v) for v in value)
    return value
