"""Putting things right after Redis trouble (CONTRACT §6.10): this process's entries in
the registry, its rooms' views of the other processes, and the presence rows it could not
count across processes.

A loop, one round per tick or whenever the bus subscription comes back:

- heartbeat: renew this process's alive key, but only while it is subscribed ("alive"
  means "reachable"); a missing key (Redis restarted, or this process was reaped) or an
  earlier failure leads to a re-sync: this process's entries are put back exactly as its
  connections are, under a new epoch, and re-announced (the others deduplicate);
- reap the instances whose alive key has expired (SIGKILL, a lost host): their
  connections are reported departed and their presence rows closed, by exactly one
  process;
- reconcile each room that may have missed events (or all of them, now and then): diff
  its view with the registry, report the joins and departures it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog

from gomeet.signaling import bus as events
from gomeet.signaling.rooms import Room
from gomeet.signaling.service import Identity

if TYPE_CHECKING:
    from gomeet.signaling.hub import Hub

log = structlog.get_logger("gomeet.signaling")

ANTI_ENTROPY_ROUNDS = 10  # every this many rounds, every room is reconciled


class RegistryUnavailable(Exception):
    pass


class Repair:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.needs_resync = True
        self.epoch = 0  # bumped by every re-sync of this process's entries
        # Presence decided without the registry (Redis away): counted again once it is back.
        self.dirty: dict[tuple[str, str], Identity] = {}
        self._wakeup = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wakeup.set()

    def mark_dirty(self, meeting_id: str, key: str, identity: Identity) -> None:
        if key:
            self.dirty.setdefault((meeting_id, key), identity)

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        """Until `stop` (see `Hub.settle` on `wait_for`)."""
        tick = max(0.05, min(1.0, self.hub.settings.ws_instance_ttl / 4))
        rounds = 0
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), tick)
            self._wakeup.clear()
            if self._stopping:
                return
            rounds += 1
            try:
                await self._round(everything=rounds % ANTI_ENTROPY_ROUNDS == 0)
            except RegistryUnavailable:
                pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("signaling_maintenance_failed", error=repr(exc))
            self.hub.presence.retry_failed()

    async def _round(self, everything: bool) -> None:
        hub = self.hub
        # While this process cannot hear the others it stops renewing its alive key, so
        # that nobody relays to its connections in vain; past the TTL the others report
        # them departed, and they are re-announced once the subscription is back.
        if not hub.bus.live:
            return
        state = await hub.registry_call(lambda: hub.registry.heartbeat(hub.counts()))
        if state != "ok" or self.needs_resync or hub.bus.failed:
            await self._resync(reaped=state == "reaped")
        for dead in await hub.registry_call(hub.registry.dead_instances):
            await self._reap(dead)
        for room in list(hub.rooms.values()):
            if everything or room.stale or room.missing_since:
                await self._reconcile(room)

    async def _resync(self, reaped: bool) -> None:
        hub = self.hub
        self.needs_resync = False
        hub.bus.failed = False
        dirty, self.dirty = self.dirty, {}
        self.epoch += 1
        for room in hub.rooms.values():
            for conn in room.connections():
                conn.member = replace(conn.member, epoch=self.epoch)
        try:
            rooms = await hub.registry_call(
                lambda: hub.registry.resync(hub.local_members(), hub.counts())
            )
        except RegistryUnavailable:
            self.dirty.update(dirty)
            raise
        for meeting_id, everyone in rooms.items():
            synced = hub.rooms.get(meeting_id)
            if synced is not None:
                synced.merge(everyone)
                synced.stale = True
                for conn in synced.local.values():  # re-announce: the others deduplicate
                    hub.bus.publish(
                        events.JOINED, meeting_id, p=conn.participant_id, r=conn.member.to_record()
                    )
        if reaped:  # the others closed this process's presence rows: restore them
            for room in hub.rooms.values():
                for conn in room.local.values():
                    self.mark_dirty(room.meeting_id, conn.member.presence_key, conn.identity)
            dirty.update(self.dirty)
            self.dirty = {}
        for (meeting_id, _), identity in dirty.items():
            hub.presence.sync(meeting_id, identity)
        log.info("signaling_registry_synced", rooms=len(rooms), reaped=reaped)

    async def _reap(self, dead: str) -> None:
        hub = self.hub
        reaped = await hub.registry_call(lambda: hub.registry.reap(dead))
        if not reaped:
            return
        count = 0
        for result in reaped:
            room = hub.rooms.get(result.meeting_id)
            for pid, member in result.removed.items():
                count += 1
                hub.bus.publish(events.LEFT, result.meeting_id, p=pid, e=member.epoch)
                if room is not None:
                    room.remove_remote(pid, member.epoch)
            keys = {m.presence_key for m in result.removed.values()} - {""}
            for key in keys:
                if not any(m.presence_key == key for m in result.remaining.values()):
                    identity = Identity.from_presence_key(key)
                    if identity is not None:
                        hub.presence.sync(result.meeting_id, identity)
        log.info("signaling_instance_reaped", instance=dead, connections=count)

    async def _reconcile(self, room: Room) -> None:
        """Diff the room's view with the registry: report the events that were missed."""
        hub = self.hub
        version = room.version
        room.stale = False
        everyone = await hub.registry_call(lambda: hub.registry.members(room.meeting_id))
        instances = {m.instance for m in [*everyone.values(), *room.remote.values()]}
        alive = await hub.registry_call(lambda: hub.registry.alive(instances - {hub.instance}))
        now = time.monotonic()
        for pid, member in everyone.items():
            if member.instance == hub.instance:
                if room.connection(pid) is None:
                    self.needs_resync = True  # a stale entry of ours
            elif member.instance in alive:
                room.add_remote(member)
        if any(pid not in everyone for pid in room.local):
            self.needs_resync = True  # entries of ours went missing
        for pid, member in list(room.remote.items()):
            if pid in everyone or room.seen_at.get(pid, 0) > version:
                continue
            if member.instance in alive:
                room.remove_remote(pid, member.epoch)
                continue
            # Its entries are gone (Redis restarted empty) and it has not re-registered:
            # give it two TTLs to reconnect before taking it for dead.
            since = room.missing_since.setdefault(member.instance, now)
            if now - since >= 2 * hub.settings.ws_instance_ttl:
                room.remove_remote(pid, member.epoch)
                identity = Identity.from_presence_key(member.presence_key)
                if identity is not None:
                    hub.presence.sync(room.meeting_id, identity)
        waiting = {m.instance for m in room.remote.values()} - alive
        room.missing_since = {i: t for i, t in room.missing_since.items() if i in waiting}
