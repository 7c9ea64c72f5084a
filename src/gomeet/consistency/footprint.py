"""The one map from what a write changed (`gomeet.changes`) to the cached values it makes
stale, read from committed rows.

Run after the commit, the queries see every concurrent write that committed before them: a
join that commits between a host's rename and this read is found here, and one that
commits later invalidates for itself after its own commit. A meeting shows up in its
details and participant list, in every list page of its host (lists embed meetings), and
in the joined pages of every user with a participant row (they embed the meeting with its
participants). A user's name and avatar show up in every meeting they host or join; a
guest's name in every meeting they join.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gomeet.cache import Family, keys
from gomeet.changes import (
    Change,
    FlagChanged,
    GuestChanged,
    MeetingChanged,
    MeetingDeleted,
    MembershipChanged,
    UserChanged,
)
from gomeet.meetings.models import Meeting, Participant
from gomeet.public_users.models import PublicUser


@dataclass
class Footprint:
    """Redis keys to delete and owner indexes whose pages to delete."""

    names: set[str] = field(default_factory=set)
    indexes: set[str] = field(default_factory=set)

    def meeting(self, meeting_id: uuid.UUID) -> None:
        self.names.add(keys.meeting_details(meeting_id).key)
        self.names.add(keys.participant_list(meeting_id).key)

    def host(self, host_id: uuid.UUID) -> None:
        self.indexes.update(keys.index_key(f, host_id) for f in keys.HOST_LIST_FAMILIES)

    def participant(self, user_id: uuid.UUID) -> None:
        self.indexes.add(keys.index_key(Family.MEETING_JOINED, user_id))

    def sorted(self) -> tuple[list[str], list[str]]:
        return sorted(self.names), sorted(self.indexes)


def direct(changes: Iterable[Change]) -> Footprint:
    """What the changes name themselves, without reading the database: a floor that is
    invalidated even when the expansion below cannot run (the database failed)."""
    out = Footprint()
    for change in changes:
        match change:
            case MeetingChanged(meeting_id=m):
                out.meeting(m)
            case MeetingDeleted(meeting_id=m, host_id=host, user_ids=users):
                out.meeting(m)
                out.host(host)
                for user in users:
                    out.participant(user)
            case MembershipChanged(meeting_id=m, user_id=user):
                out.meeting(m)
                if user is not None:
                    out.participant(user)
            case UserChanged(user_id=user, shown=shown):
                out.names.add(keys.user_profile(user).key)
                if shown:
                    out.host(user)
                    out.participant(user)
            case FlagChanged(name=name):
                out.names.add(keys.feature_flag(name).key)
            case GuestChanged():
                pass  # its key holds the session id: read below
    return out


MEETING_FAMILIES = frozenset({Family.MEETING_DETAILS, Family.PARTICIPANT_LIST, *keys.LIST_FAMILIES})


def beyond_direct(changes: Iterable[Change]) -> set[Family]:
    """The families holding values the changes make stale that `direct` cannot name (only
    the committed rows can): what to flush whole when the database fails right after the
    commit, so that no instance serves them stale until the drain can map the record."""
    out: set[Family] = set()
    for change in changes:
        match change:
            case MeetingChanged() | MembershipChanged():  # the host's and members' pages
                out.update(keys.LIST_FAMILIES)
            case UserChanged(shown=True):  # every meeting the user hosts or joins
                out.update(MEETING_FAMILIES)
            case GuestChanged():  # its session's key, every meeting the guest joined
                out.update({Family.PUBLIC_USER, *MEETING_FAMILIES})
    return out


async def footprint(session: AsyncSession, changes: list[Change]) -> Footprint:
    """Everything the changes make stale, from the committed rows (two or three queries)."""
    out = direct(changes)
    meetings: set[uuid.UUID] = set()
    users: set[uuid.UUID] = set()
    guests: set[uuid.UUID] = set()
    for change in changes:
        match change:
            case MeetingChanged(meeting_id=m) | MembershipChanged(meeting_id=m):
                meetings.add(m)
            case UserChanged(user_id=user, shown=True):
                users.add(user)
            case GuestChanged(public_user_id=guest):
                guests.add(guest)
    if guests:
        sessions = await session.scalars(
            select(PublicUser.session_id).where(PublicUser.id.in_(guests))
        )
        out.names.update(keys.public_user(session_id).key for session_id in sessions)
    shown: list[ColumnElement[bool]] = []
    if meetings:
        shown.append(Meeting.id.in_(meetings))
    if users:
        shown.append(Meeting.host_id.in_(users))
        joined = select(Participant.meeting_id).where(Participant.user_id.in_(users))
        shown.append(Meeting.id.in_(joined))
    if guests:
        joined = select(Participant.meeting_id).where(Participant.public_user_id.in_(guests))
        shown.append(Meeting.id.in_(joined))
    if shown:
        rows = await session.execute(
            select(Meeting.id, Meeting.host_id, Participant.user_id)
            .outerjoin(
                Participant,
                (Participant.meeting_id == Meeting.id) & Participant.user_id.is_not(None),
            )
            .where(or_(*shown))
        )
        for meeting_id, host_id, user_id in rows:
            out.meeting(meeting_id)
            out.host(host_id)
            if user_id is not None:
                out.participant(user_id)
    return out
