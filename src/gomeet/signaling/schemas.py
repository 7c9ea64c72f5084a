"""The signaling envelope (CONTRACT §6.3, §6.5): message types, error and close codes, the
participant shape, and the parsing of client frames.

Every server message carries the six fields `type`, `meetingId`, `from`, `to`, `data` and
`timestamp`; it is serialised once and the same text is queued for every recipient.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any

import orjson


class MessageType(StrEnum):
    JOIN = "join"
    OFFER = "offer"
    ANSWER = "answer"
    ICE_CANDIDATE = "ice-candidate"
    LEAVE = "leave"
    PARTICIPANT_JOINED = "participant-joined"
    PARTICIPANT_LEFT = "participant-left"
    ERROR = "error"


RELAYED_TYPES = frozenset({MessageType.OFFER, MessageType.ANSWER, MessageType.ICE_CANDIDATE})
CLIENT_TYPES = frozenset({MessageType.JOIN, MessageType.LEAVE, *RELAYED_TYPES})


class ErrorCode(StrEnum):
    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    PEER_NOT_FOUND = "PEER_NOT_FOUND"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"


class CloseCode(IntEnum):
    NORMAL = 1000  # after `leave` or a meeting deletion: the client does not reconnect
    GOING_AWAY = 1001  # server shutdown: the client reconnects, maybe to another instance
    POLICY_VIOLATION = 1008  # over the message rate for too long
    MESSAGE_TOO_BIG = 1009
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013  # evicted as a slow consumer


class IdentityKind(StrEnum):
    USER = "user"
    GUEST = "guest"
    ANONYMOUS = "anonymous"


def guest_name() -> str:
    """`Guest` and four characters, for an anonymous connection (never "Anonymous User")."""
    return "Guest" + secrets.token_hex(2).upper()


def new_participant_id() -> str:
    """Random, so it reveals neither the user id nor the session id (CONTRACT §6.2, §6.11)."""
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class Member:
    """One open connection as the other connections of its meeting see it.

    `presence_key` names the identity whose presence the connection counts for
    (`user:<id>`, `guest:<id>`, or "" for anonymous); it is never sent to a client.
    `instance` is the id of the process that holds the socket.
    """

    participant_id: str
    name: str
    is_authenticated: bool
    avatar_url: str | None
    presence_key: str
    instance: str
    # Bumped by the owning process each time it re-registers its connections (after Redis
    # came back): a re-announcement then wins over an older departure of the same id.
    epoch: int = 0

    def joined_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "participantId": self.participant_id,
            "name": self.name,
            "isAuthenticated": self.is_authenticated,
        }
        if self.avatar_url:
            data["avatarUrl"] = self.avatar_url
        return data

    def to_record(self) -> dict[str, Any]:
        """The registry's copy (Redis), from which another process rebuilds the member."""
        return {
            "n": self.name,
            "a": self.is_authenticated,
            "v": self.avatar_url,
            "k": self.presence_key,
            "i": self.instance,
            "e": self.epoch,
        }

    @classmethod
    def from_record(cls, participant_id: str, record: dict[str, Any]) -> Member:
        return cls(
            participant_id=participant_id,
            name=str(record["n"]),
            is_authenticated=bool(record["a"]),
            avatar_url=record.get("v") or None,
            presence_key=str(record.get("k") or ""),
            instance=str(record["i"]),
            epoch=int(record.get("e") or 0),
        )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def envelope(
    message_type: str, meeting_id: str, data: Any, *, sender: str = "", to: str = ""
) -> str:
    """A server message, serialised: all six fields, the server's time."""
    return orjson.dumps(
        {
            "type": message_type,
            "meetingId": meeting_id,
            "from": sender,
            "to": to,
            "data": data,
            "timestamp": now_iso(),
        }
    ).decode()


def joined_message(meeting_id: str, member: Member) -> str:
    return envelope(
        MessageType.PARTICIPANT_JOINED,
        meeting_id,
        member.joined_data(),
        sender=member.participant_id,
    )


def left_message(meeting_id: str, participant_id: str) -> str:
    return envelope(
        MessageType.PARTICIPANT_LEFT,
        meeting_id,
        {"participantId": participant_id},
        sender=participant_id,
    )


def error_message(meeting_id: str, to: str, code: ErrorCode, message: str) -> str:
    return envelope(MessageType.ERROR, meeting_id, {"code": code, "message": message}, to=to)


class InvalidFrame(Exception):
    """A client frame the server cannot handle; answered with an `error`, never a close."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ClientMessage:
    type: MessageType
    to: str
    data: Any


def parse_frame(text: str) -> ClientMessage:
    """One client text frame. `from`, `meetingId` and `timestamp` are ignored; a relayed
    type needs a string `to` (an empty or unknown one is the hub's PEER_NOT_FOUND) and an
    object `data`."""
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidFrame(ErrorCode.INVALID_MESSAGE, "The frame is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidFrame(ErrorCode.INVALID_MESSAGE, "The frame must be a JSON object")
    kind = body.get("type")
    if not isinstance(kind, str):
        raise InvalidFrame(ErrorCode.INVALID_MESSAGE, "`type` must be a string")
    if kind not in CLIENT_TYPES:
        raise InvalidFrame(ErrorCode.UNKNOWN_TYPE, "Unknown message type")
    message_type = MessageType(kind)
    to = body.get("to", "")
    data = body.get("data")
    if message_type in RELAYED_TYPES:
        if to is None:
            to = ""
        if not isinstance(to, str):
            raise InvalidFrame(ErrorCode.INVALID_MESSAGE, "`to` must be a participant id")
        if not isinstance(data, dict):
            raise InvalidFrame(ErrorCode.INVALID_MESSAGE, "`data` must be a JSON object")
    return ClientMessage(message_type, to if isinstance(to, str) else "", data)
