"""The signaling hub of one process: its rooms, the protocol applied to them, and how they
span processes (CONTRACT §6.4 to §6.10).

The hub decides without awaiting anything, so every decision sees one consistent state;
what crosses processes goes through the bus (events, in order) and the registry (who is
where, with the participant limit and the presence counts). Each departure is reported
once (`Connection.departed`), and a remote one is applied once (`Room.remove_remote`).

Redis unreachable: admission, presence counts and the `join` snapshot fall back to what
this process knows, same-process relays go on, and `Repair` puts the rest right once
Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import structlog
from redis.asyncio import Redis
from starlette.datastructures import State

from gomeet.config import Settings
from gomeet.signaling import bus as events
from gomeet.signaling.bus import RedisWarning, SignalBus, retry_once_on_connection_error
from gomeet.signaling.connection import Connection, MessageRate
from gomeet.signaling.locks import KeyedLocks
from gomeet.signaling.registry import Counts, Registry
from gomeet.signaling.repair import RegistryUnavailable, Repair
from gomeet.signaling.rooms import Room
from gomeet.signaling.schemas import (
    RELAYED_TYPES,
    CloseCode,
    ErrorCode,
    InvalidFrame,
    Member,
    MessageType,
    envelope,
    joined_message,
    new_participant_id,
    parse_frame,
)
from gomeet.signaling.service import Identity, MeetingFull, Presence

log = structlog.get_logger("gomeet.signaling")
T = TypeVar("T")

MEETING_DELETED = "meeting deleted"
SHUTDOWN = "server shutdown"
REGISTRY_BACKOFF_S = 1.0  # after a failure, Redis is left alone this long


class SignalingStats:
    """Plain counters, read by the metrics collector."""

    def __init__(self) -> None:
        self.connections_opened = 0
        self.messages_received = 0
        self.messages_relayed = 0
        self.refused: dict[str, int] = {}
        self.closed: dict[int, int] = {}


class Hub:
    def __init__(self, state: State, settings: Settings, redis: Redis) -> None:
        self.instance = uuid.uuid4().hex
        self.settings = settings
        self.rooms: dict[str, Room] = {}
        self.registry = Registry(redis, self.instance, settings.ws_instance_ttl)
        self.bus = SignalBus(redis, self.instance, self._on_event, self._on_bus_live)
        self.presence = Presence(state, self._desired_presence)
        self.repair = Repair(self)
        self.stats = SignalingStats()
        self._room_locks = KeyedLocks()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._background: list[asyncio.Task[Any]] = []
        self._skip_until = 0.0
        self._warn = RedisWarning(
            "signaling_registry_unavailable",
            "Redis unreachable: signaling runs on what this process knows",
        )
        self._no_rooms = asyncio.Event()
        self._no_rooms.set()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._background = [self._spawn(self.bus.run()), self._spawn(self.repair.run())]
        await self.bus.first_attempt(self.settings.redis_connect_timeout + 0.5)

    async def aclose(self) -> None:
        """Close every socket with 1001 and report the departures; then leave the registry."""
        for room in list(self.rooms.values()):
            for conn in room.connections():
                conn.stop(CloseCode.GOING_AWAY, SHUTDOWN)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_rooms.wait(), 5.0)
        with contextlib.suppress(TimeoutError):
            await self.settle(5.0)
        await self.bus.drain(2.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.registry.leave(self.local_members()), 2.0)
        self.repair.stop()
        _, repair = self._background
        await asyncio.wait({repair}, timeout=2.0)
        self.bus.stop()  # the subscription takes its cancellation for a clean stop
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def settle(self, timeout_s: float) -> None:
        """Wait (bounded) for the work that departures started: registry removals and the
        presence writes they lead to. (`wait_for` everywhere here, not `asyncio.timeout`:
        on Python 3.11 a cancellation meeting an expiring timeout can be lost.)"""
        await asyncio.wait_for(self._settled(), timeout_s)

    async def _settled(self) -> None:
        while work := [t for t in self._tasks if t not in self._background]:
            await asyncio.wait(work)
        await self.presence.wait(None)

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def open_connections(self) -> int:
        return sum(len(room.local) for room in self.rooms.values())

    def counts(self) -> Counts:
        rooms = sum(1 for room in self.rooms.values() if room.local)
        return Counts(rooms, self.open_connections)

    def local_members(self) -> dict[str, list[Member]]:
        return {
            meeting_id: [c.member for c in room.connections()]
            for meeting_id, room in self.rooms.items()
        }

    # -- admission --------------------------------------------------------------------------

    async def admit(self, meeting_id: str, identity: Identity) -> Connection:
        """Reserve a place (MeetingFull when there is none, counted across processes) and
        start the identity's presence if this is its first connection to the meeting. The
        caller accepts the socket, then calls `activate`, or `depart` if it cannot."""
        s = self.settings
        member = Member(
            participant_id=new_participant_id(),
            name=identity.name,
            is_authenticated=identity.is_authenticated,
            avatar_url=identity.avatar_url,
            presence_key=identity.presence_key,
            instance=self.instance,
            epoch=self.repair.epoch,
        )
        conn = Connection(
            meeting_id,
            member,
            identity=identity,
            queue_size=s.ws_send_queue_size,
            rate=MessageRate(s.ws_rate_limit_per_second, s.ws_rate_limit_burst),
            max_message_bytes=s.ws_max_message_bytes,
            rate_grace_s=s.ws_rate_limit_grace,
        )
        room = self.rooms.get(meeting_id)
        if room is None:
            room = self.rooms[meeting_id] = Room(meeting_id, self.instance)
        self._no_rooms.clear()
        room.pending[member.participant_id] = conn  # counted at once, registry or not
        key = member.presence_key
        try:
            async with self._room_locks.hold(meeting_id):
                try:
                    everyone = await self.registry_call(
                        lambda: self.registry.admit(meeting_id, member, s.ws_max_participants)
                    )
                except RegistryUnavailable:
                    if room.size() > s.ws_max_participants:
                        raise MeetingFull() from None
                    first = bool(key) and not room.holds(key, besides=member.participant_id)
                    room.stale = True
                    self.repair.mark_dirty(meeting_id, key, identity)
                else:
                    if everyone is None:
                        raise MeetingFull()
                    room.merge(everyone)
                    first = bool(key) and not any(
                        m.presence_key == key and pid != member.participant_id
                        for pid, m in everyone.items()
                    )
        except BaseException:
            room.pending.pop(member.participant_id, None)
            self._drop_if_empty(room)
            raise
        if first:
            conn.presence_started = self.presence.sync(meeting_id, identity)
        return conn

    def activate(self, conn: Connection) -> None:
        """The socket is open: announce it to the meeting, here and on the other processes."""
        room = self.rooms[conn.meeting_id]
        room.pending.pop(conn.participant_id, None)
        if conn.close_code is not None:  # stopped while pending (meeting deleted, shutdown)
            return
        room.local[conn.participant_id] = conn
        conn.active = True
        self.stats.connections_opened += 1
        text = joined_message(conn.meeting_id, conn.member)
        for other in room.local.values():
            other.announce(conn.member, text)
        self.bus.publish(
            events.JOINED, conn.meeting_id, p=conn.participant_id, r=conn.member.to_record()
        )
        log.info(
            "ws_connected",
            meeting_id=conn.meeting_id,
            participant_id=conn.participant_id,
            identity=conn.identity.kind.value,
            instance=self.instance,
        )

    # -- messages from a connection ---------------------------------------------------------

    def handle_text(self, conn: Connection, text: str) -> None:
        self.stats.messages_received += 1
        try:
            message = parse_frame(text)
        except InvalidFrame as exc:
            conn.send_error(exc.code, exc.message)
            return
        if conn.departed or not conn.active:
            return
        if message.type is MessageType.JOIN:
            if not conn.joined:
                conn.joined = True
                self._send_snapshot(conn)
        elif message.type is MessageType.LEAVE:
            conn.stop(CloseCode.NORMAL, "leave")
        elif message.type in RELAYED_TYPES:
            self._relay(conn, message.type, message.to, message.data)

    def _send_snapshot(self, conn: Connection) -> None:
        room = self.rooms[conn.meeting_id]
        others = [c.member for c in room.local.values() if c is not conn]
        for member in [*others, *room.remote.values()]:
            if member.participant_id not in conn.announced:
                conn.announce(member, joined_message(conn.meeting_id, member))

    def _relay(self, conn: Connection, kind: str, to: str, data: Any) -> None:
        room = self.rooms[conn.meeting_id]
        target = room.connection(to) if to != conn.participant_id else None
        if target is None and to not in room.remote:
            conn.send_error(ErrorCode.PEER_NOT_FOUND, "No such participant in this meeting")
            return
        text = envelope(kind, conn.meeting_id, data, sender=conn.participant_id, to=to)
        self.stats.messages_relayed += 1
        if target is not None:
            target.deliver(text)
        else:
            self.bus.publish(events.RELAY, conn.meeting_id, p=to, t=text)

    # -- departures -------------------------------------------------------------------------

    def depart(self, conn: Connection) -> None:
        """Report a connection's departure, once, whatever ended it."""
        if conn.departed:
            return
        conn.departed = True
        room = self.rooms.get(conn.meeting_id)
        if room is not None:
            room.local.pop(conn.participant_id, None)
            room.pending.pop(conn.participant_id, None)
        deleted = conn.close_reason == MEETING_DELETED
        if not deleted:
            if conn.active and room is not None:
                room.report_departure(conn)
            # Also for a connection never accepted: another process may have seen it.
            self.bus.publish(
                events.LEFT, conn.meeting_id, p=conn.participant_id, e=conn.member.epoch
            )
        code = conn.close_code or 1005
        self.stats.closed[code] = self.stats.closed.get(code, 0) + 1
        if conn.active:
            log.info(
                "ws_disconnected",
                meeting_id=conn.meeting_id,
                participant_id=conn.participant_id,
                code=code,
                reason=conn.close_reason,
                duration_s=round(time.monotonic() - conn.opened_at, 3),
            )
        if room is not None:
            self._drop_if_empty(room)
        self._spawn(self._unregister(conn, deleted))

    async def _unregister(self, conn: Connection, deleted: bool) -> None:
        member = conn.member
        meeting_id = conn.meeting_id
        key = member.presence_key
        async with self._room_locks.hold(meeting_id):
            try:
                same = await self.registry_call(lambda: self.registry.remove(meeting_id, member))
                if meeting_id not in self.rooms:
                    await self.registry_call(lambda: self.registry.forget_room(meeting_id))
            except RegistryUnavailable:
                room = self.rooms.get(meeting_id)
                same = int(room is not None and bool(key) and room.holds(key))
                self.repair.mark_dirty(meeting_id, key, conn.identity)
        if key and same == 0 and not deleted:
            self.presence.sync(meeting_id, conn.identity)

    def close_meeting(self, meeting_id: str, code: int = CloseCode.NORMAL) -> None:
        """Close every socket of the meeting, on every process (a deleted meeting)."""
        self.bus.publish(events.CLOSE, meeting_id, c=code)
        room = self.rooms.get(meeting_id)
        if room is not None:
            self._close_room(room, code)

    def _close_room(self, room: Room, code: int) -> None:
        for conn in room.connections():
            conn.stop(code, MEETING_DELETED)

    def _drop_if_empty(self, room: Room) -> None:
        if room.empty and self.rooms.get(room.meeting_id) is room:
            del self.rooms[room.meeting_id]
            if not self.rooms:
                self._no_rooms.set()

    # -- the other processes ----------------------------------------------------------------

    def _on_event(self, event: dict[str, Any]) -> None:
        room = self.rooms.get(str(event.get("m")))
        if room is None:
            return
        try:
            kind = event["k"]
            if kind == events.JOINED:
                room.add_remote(Member.from_record(str(event["p"]), event["r"]))
            elif kind == events.LEFT:
                room.remove_remote(str(event["p"]), int(event.get("e") or 0))
            elif kind == events.RELAY:
                target = room.connection(str(event["p"]))
                if target is not None:
                    target.deliver(str(event["t"]))
            elif kind == events.CLOSE:
                self._close_room(room, int(event["c"]))
        except (KeyError, TypeError, ValueError):
            return

    def _on_bus_live(self, live: bool) -> None:
        log.info("signaling_bus_subscription", live=live)
        for room in self.rooms.values():
            room.stale = True
        if live:
            self.repair.wake()

    # -- Redis, with a back-off -------------------------------------------------------------

    async def registry_call(self, call: Callable[[], Awaitable[T]]) -> T:
        """One registry operation; RegistryUnavailable when Redis does not answer (then
        Redis is left alone for a moment, and the registry re-synced once it answers)."""
        if time.monotonic() < self._skip_until:
            raise RegistryUnavailable()
        try:
            return await retry_once_on_connection_error(call)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._skip_until = time.monotonic() + REGISTRY_BACKOFF_S
            self.repair.needs_resync = True
            self._warn(exc)
            raise RegistryUnavailable() from None

    async def _desired_presence(self, meeting_id: str, key: str) -> bool:
        """Does the identity hold a connection to the meeting, on any process?"""
        room = self.rooms.get(meeting_id)
        try:
            members = await self.registry_call(lambda: self.registry.members(meeting_id))
        except RegistryUnavailable:
            holders = room.connections() if room is not None else []
            holder = next((c for c in holders if c.member.presence_key == key), None)
            identity = holder.identity if holder else Identity.from_presence_key(key)
            if identity is not None:
                self.repair.mark_dirty(meeting_id, key, identity)
            return room is not None and room.holds(key)
        return any(m.presence_key == key for m in members.values())
