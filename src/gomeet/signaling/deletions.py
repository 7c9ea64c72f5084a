"""Closing the sockets of a deleted meeting (CONTRACT §6.7), from its change record.

The meetings domain records `MeetingDeleted` in the write's transaction; the outbox tells
its observers once the record is applied (by the writing instance right after the commit,
or by another instance's drain if the writer died), and this observer asks the hub to close
the meeting's sockets with 1000 on every process. The meetings domain knows nothing of
signaling.
"""

from __future__ import annotations

from collections.abc import Callable

from gomeet.changes import Change, MeetingDeleted
from gomeet.signaling.hub import Hub


def close_deleted_meetings(hub: Hub) -> Callable[[list[Change]], None]:
    """An outbox observer: every deleted meeting's sockets are closed."""

    def observe(changes: list[Change]) -> None:
        for change in changes:
            if isinstance(change, MeetingDeleted):
                hub.close_meeting(str(change.meeting_id))

    return observe
