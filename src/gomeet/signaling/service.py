"""Signaling rules: who a caller is (§6.1) and the presence rows (§6.8).

Identity uses the same services as REST: the access token goes through
`auth.deps.authenticate` (signature, expiry, type, revocation through the cached profile),
the guest session through `PublicUserService.get`. Presence goes through
`MeetingService.join/leave/join_as_guest/leave_as_guest` in a unit of work of its own, so
the cache invalidations of those writes run after their commit like any REST write.

A presence write never breaks signaling: a failure is logged and retried later.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from starlette.datastructures import State

from gomeet.auth.deps import authenticate
from gomeet.auth.service import AuthService
from gomeet.config import Settings
from gomeet.db import database_unavailable
from gomeet.deps import unit_of_work
from gomeet.errors import NotFound, Unauthorized, parse_uuid
from gomeet.meetings.service import MeetingService
from gomeet.public_users.schemas import SESSION_ID_MAX_LENGTH
from gomeet.public_users.service import PublicUserService
from gomeet.schemas import check_single_line
from gomeet.signaling.locks import KeyedLocks
from gomeet.signaling.schemas import IdentityKind, guest_name

log = structlog.get_logger("gomeet.signaling")
T = TypeVar("T")

PRESENCE_ATTEMPTS = 3  # writes of one sync, when the desired state changes under it
RETRY_EVERY_S = 2.0


@dataclass(frozen=True, slots=True)
class Identity:
    """Who holds a connection. `subject_id` is the user's or the public user's id (None
    for an anonymous caller); `counts_presence` is False for anonymous callers and for the
    meeting's host, who get no participant row."""

    kind: IdentityKind
    subject_id: uuid.UUID | None
    name: str
    avatar_url: str | None
    counts_presence: bool = True

    @property
    def is_authenticated(self) -> bool:
        return self.kind is IdentityKind.USER

    @property
    def presence_key(self) -> str:
        """`user:<id>` or `guest:<id>`: what presence is counted by; "" when it is not."""
        if not self.counts_presence or self.subject_id is None:
            return ""
        return f"{self.kind.value}:{self.subject_id}"

    @classmethod
    def from_presence_key(cls, key: str) -> Identity | None:
        """The identity behind a key from another process (enough to write a leave)."""
        kind, _, subject = key.partition(":")
        try:
            return cls(IdentityKind(kind), uuid.UUID(subject), "", None)
        except ValueError:
            return None


class MeetingFull(Exception):
    pass


def parse_meeting_id(raw: str) -> str:
    """The canonical lower-case form, the room key (400 INVALID_MEETING_ID otherwise)."""
    return str(parse_uuid(raw, code="INVALID_MEETING_ID", what="meetingId"))


def _usable_session_id(session_id: str | None) -> str | None:
    if not session_id or len(session_id) > SESSION_ID_MAX_LENGTH:
        return None
    try:
        return check_single_line(session_id)
    except ValueError:
        return None


async def identify(
    state: State, meeting_id: str, token: str | None, session_id: str | None
) -> Identity:
    """The caller of a handshake to an existing meeting (MeetingNotFound otherwise).

    §6.1, in order: a valid access token, else an existing guest session, else anonymous
    (when allowed; otherwise 401). A bad token or an unknown session only moves on to the
    next rule; so does a lookup that fails because the database is down."""
    settings: Settings = state.settings
    async with unit_of_work(state) as uow:
        host_id = await MeetingService(uow, state.cache).host_of(uuid.UUID(meeting_id))
        if token:
            auth = AuthService(uow, state.cache, settings)
            principal = await _rule("token", authenticate(settings, auth, token))
            if principal is not None:
                return Identity(
                    IdentityKind.USER,
                    principal.id,
                    principal.username,
                    principal.avatar_url,
                    counts_presence=principal.id != host_id,
                )
        session = _usable_session_id(session_id)
        if session is not None:
            guests = PublicUserService(uow=uow, cache=state.cache)
            guest = await _rule("session", guests.get(session))
            if guest is not None:
                return Identity(IdentityKind.GUEST, uuid.UUID(guest["id"]), guest["name"], None)
    if settings.ws_allow_anonymous:
        return Identity(IdentityKind.ANONYMOUS, None, guest_name(), None, counts_presence=False)
    raise Unauthorized("Sign in, or join as a guest, to connect to this meeting")


async def _rule(name: str, lookup: Awaitable[T]) -> T | None:
    """One identity rule: its answer, or None when it does not apply (refused, unknown,
    or the database cannot be asked)."""
    try:
        return await lookup
    except (Unauthorized, NotFound):
        return None
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        log.warning("signaling_identity_unavailable", rule=name, error=type(exc).__name__)
        return None


DesiredPresence = Callable[[str, str], Awaitable[bool]]


class Presence:
    """Keeps participant rows in line with the connections (§6.8).

    `sync(meeting, identity)` makes the row say what `desired(meeting, presence_key)`
    says (does the identity hold a connection there, counted across processes): joined
    (created or reactivated) or left. Syncs of one identity in one meeting run one at a
    time; after each write the desired state is read again and, if it changed meanwhile
    (the last tab closed here while a new one opened on another instance), written again,
    so the row ends as the connections are. A failed write is retried every few seconds.
    """

    def __init__(self, state: State, desired: DesiredPresence) -> None:
        self._state = state
        self._desired = desired
        self._locks = KeyedLocks()
        self._tasks: set[asyncio.Task[None]] = set()
        self._failed: dict[tuple[str, str], Identity] = {}
        self._last_retry = 0.0
        self.writes = 0

    def sync(self, meeting_id: str, identity: Identity) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._sync(meeting_id, identity))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def retry_failed(self) -> None:
        now = time.monotonic()
        if not self._failed or now - self._last_retry < RETRY_EVERY_S:
            return
        self._last_retry = now
        failed, self._failed = self._failed, {}
        for (meeting_id, _), identity in failed.items():
            self.sync(meeting_id, identity)

    async def wait(self, timeout_s: float | None) -> None:
        """Let the running writes finish (shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)

    async def _sync(self, meeting_id: str, identity: Identity) -> None:
        key = identity.presence_key
        if not key:
            return
        async with self._locks.hold((meeting_id, key)):
            try:
                active = await self._desired(meeting_id, key)
                for _ in range(PRESENCE_ATTEMPTS):
                    if active and not identity.name:
                        return  # only the process holding the connection knows the name
                    if not await self._write(meeting_id, identity, active):
                        self._failed[meeting_id, key] = identity
                        return
                    now_active = await self._desired(meeting_id, key)
                    if now_active == active:
                        return
                    active = now_active
            except Exception as exc:  # never let a presence problem reach the socket
                log.warning("presence_sync_failed", meeting_id=meeting_id, error=repr(exc))
                self._failed[meeting_id, key] = identity

    async def _write(self, meeting_id: str, identity: Identity, active: bool) -> bool:
        """One join or leave through the meeting service; False when it failed."""
        assert identity.subject_id is not None
        meeting = uuid.UUID(meeting_id)
        subject = identity.subject_id
        try:
            async with unit_of_work(self._state) as uow:
                meetings = MeetingService(uow, self._state.cache)
                if identity.kind is IdentityKind.USER:
                    if active:
                        await meetings.join(meeting, subject, identity.name, identity.avatar_url)
                    else:
                        await meetings.leave(meeting, subject)
                elif active:
                    await meetings.join_as_guest(meeting, subject, identity.name)
                else:
                    await meetings.leave_as_guest(meeting, subject)
        except NotFound:
            return True  # the meeting is gone, or there is no row to close
        except Exception as exc:
            log.warning(
                "presence_write_failed",
                meeting_id=meeting_id,
                kind=identity.kind.value,
                active=active,
                error=type(exc).__name__,
            )
            return False
        self.writes += 1
        return True
