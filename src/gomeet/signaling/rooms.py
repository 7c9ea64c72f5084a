"""A meeting's room on one process: its connections here, and its view of the meeting's
connections on the other processes (CONTRACT §6.5, §6.10).

Every method runs without awaiting, so a decision sees one consistent state. The view
only changes through `add_remote` and `remove_remote`, which tell the local connections
(`participant-joined` at most once per subject until a `participant-left`). A departed
remote id is remembered with its epoch (a tombstone), so that a late copy of it (an old
snapshot, a reordered event) cannot bring it back; a re-announcement with a newer epoch
(its process re-registered after being reaped) can.
"""

from __future__ import annotations

from gomeet.signaling.connection import Connection
from gomeet.signaling.schemas import Member, joined_message, left_message

TOMBSTONES = 1024  # departed remote ids remembered per room


class Room:
    __slots__ = ("gone", "instance", "local", "meeting_id", "missing_since", "pending",
                 "remote", "seen_at", "stale", "version")  # fmt: skip

    def __init__(self, meeting_id: str, instance: str) -> None:
        self.meeting_id = meeting_id
        self.instance = instance  # this process
        self.local: dict[str, Connection] = {}  # accepted
        self.pending: dict[str, Connection] = {}  # admitted, socket not accepted yet
        self.remote: dict[str, Member] = {}
        self.gone: dict[str, int] = {}  # departed remote id → epoch (ordered, bounded)
        self.seen_at: dict[str, int] = {}  # remote id → `version` when it entered the view
        self.version = 0
        self.missing_since: dict[str, float] = {}  # instance → when its entries went missing
        self.stale = False  # events may have been missed: reconcile with the registry

    @property
    def empty(self) -> bool:
        return not self.local and not self.pending

    def size(self) -> int:
        return len(self.local) + len(self.pending) + len(self.remote)

    def connection(self, participant_id: str) -> Connection | None:
        return self.local.get(participant_id) or self.pending.get(participant_id)

    def connections(self) -> list[Connection]:
        return [*self.local.values(), *self.pending.values()]

    def holds(self, presence_key: str, besides: str = "") -> bool:
        """Does the room hold a connection of this identity (other than `besides`)?"""
        members = [*(c.member for c in self.connections()), *self.remote.values()]
        return any(m.presence_key == presence_key and m.participant_id != besides for m in members)

    def add_remote(self, member: Member) -> None:
        pid = member.participant_id
        if member.instance == self.instance or pid in self.remote:
            return
        if pid in self.gone and self.gone[pid] >= member.epoch:
            return  # a late copy of a departed connection
        self.version += 1
        self.remote[pid] = member
        self.seen_at[pid] = self.version
        text = joined_message(self.meeting_id, member)
        for conn in self.local.values():
            conn.announce(member, text)

    def merge(self, everyone: dict[str, Member]) -> None:
        for member in everyone.values():
            self.add_remote(member)

    def remove_remote(self, participant_id: str, epoch: int) -> Member | None:
        """Apply a remote departure (once); the member, or None if there was none."""
        if participant_id in self.local or participant_id in self.pending:
            return None  # ours: only this process reports its own connections
        member = self.remote.get(participant_id)
        if member is not None and member.epoch > epoch:
            return None  # re-announced since (its process came back after being reaped)
        self.gone[participant_id] = max(epoch, self.gone.get(participant_id, epoch))
        if len(self.gone) > TOMBSTONES:
            del self.gone[next(iter(self.gone))]
        self.remote.pop(participant_id, None)
        self.seen_at.pop(participant_id, None)
        if member is not None:
            text = left_message(self.meeting_id, participant_id)
            for conn in self.local.values():
                conn.report_left(participant_id, text)
        return member

    def report_departure(self, conn: Connection) -> None:
        """A local connection left: tell the others here."""
        text = left_message(self.meeting_id, conn.participant_id)
        for other in self.local.values():
            other.report_left(conn.participant_id, text)
