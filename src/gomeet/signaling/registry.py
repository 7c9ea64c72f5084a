"""The Redis registry of live signaling connections, shared by every process (§6.10).

Keys (all small; none holds a secret):

- `signal:room:{meetingId}`: hash, participant id → the member's record (name, flags,
  presence key, owning instance). The source of truth for a meeting's participants
  across processes: admission (with the participant limit), the `join` snapshot and
  presence counting read it.
- `signal:instance:{id}`: "alive" key with a TTL, renewed by its process's heartbeat.
  Written only after the instance's entries are in place, so "alive" implies "its entries
  are complete". Its value is the instance's counts at its last heartbeat
  (`{"rooms": n, "connections": n}`, JSON), which the operator dashboard shows.
- `signal:instance:{id}:rooms`: set of the meetings where the instance has entries, so
  that the entries of a dead instance can be found and reaped.
- `signal:instances`: set of the instances to watch.
- `signal:reap:{id}` (a lock while one process reaps a dead instance) and
  `signal:reaped:{id}` (tells an instance that came back that it was reaped, so it must
  re-announce itself and restore its presence rows).

Every script touches one key, so all of this works on a Redis Cluster too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from gomeet.signaling.schemas import Member

ROOM_PREFIX = "signal:room:"
INSTANCES = "signal:instances"
REAP_LOCK_MS = 30_000
REAPED_MARK_MS = 600_000

# KEYS[1] room; ARGV: limit, participant id, record. Full: {0}; else {1, HGETALL}.
ADMIT_LUA = """
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0
   and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  return {0}
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return {1, redis.call('HGETALL', KEYS[1])}
"""

# KEYS[1] room; ARGV: participant id, presence key. Returns {removed, entries left with
# that presence key}.
REMOVE_LUA = """
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
local same = 0
if ARGV[2] ~= '' then
  for _, value in ipairs(redis.call('HVALS', KEYS[1])) do
    local ok, record = pcall(cjson.decode, value)
    if ok and record['k'] == ARGV[2] then same = same + 1 end
  end
end
return {removed, same}
"""

# KEYS[1] room; ARGV[1] instance; ARGV[2..] participant ids to keep. Removes the other
# entries of that instance; returns {removed id, record, ...} and what is left.
PRUNE_LUA = """
local keep = {}
for i = 2, #ARGV do keep[ARGV[i]] = true end
local removed = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, record = pcall(cjson.decode, all[i + 1])
  if ok and record['i'] == ARGV[1] and not keep[all[i]] then
    redis.call('HDEL', KEYS[1], all[i])
    table.insert(removed, all[i])
    table.insert(removed, all[i + 1])
  end
end
return {removed, redis.call('HGETALL', KEYS[1])}
"""


def room_key(meeting_id: str) -> str:
    return ROOM_PREFIX + meeting_id


def alive_key(instance: str) -> str:
    return f"signal:instance:{instance}"


def rooms_key(instance: str) -> str:
    return f"signal:instance:{instance}:rooms"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _members(flat: list[Any]) -> dict[str, Member]:
    """HGETALL's flat [field, value, …] as members; unreadable records are skipped."""
    members: dict[str, Member] = {}
    for i in range(0, len(flat) - 1, 2):
        participant_id = _text(flat[i])
        try:
            members[participant_id] = Member.from_record(participant_id, orjson.loads(flat[i + 1]))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
    return members


@dataclass(frozen=True, slots=True)
class Counts:
    """One instance's rooms (meetings with a socket on it) and open sockets."""

    rooms: int
    connections: int

    def encode(self) -> bytes:
        return orjson.dumps({"rooms": self.rooms, "connections": self.connections})

    @classmethod
    def decode(cls, value: bytes) -> Counts:
        try:
            record = orjson.loads(value)
            return cls(int(record["rooms"]), int(record["connections"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return cls(0, 0)  # an instance of an older version: alive, counts unknown


@dataclass(frozen=True, slots=True)
class Reaped:
    """What reaping a dead instance removed from one meeting, and who is left there."""

    meeting_id: str
    removed: dict[str, Member]
    remaining: dict[str, Member]


class Registry:
    """The registry operations of one instance. Every method may raise the Redis client's
    errors: the hub decides what to do without Redis."""

    def __init__(self, redis: Redis, instance: str, ttl_s: float) -> None:
        self.redis = redis
        self.instance = instance
        self.ttl_ms = max(1000, round(ttl_s * 1000))
        self._admit: AsyncScript = redis.register_script(ADMIT_LUA)
        self._remove: AsyncScript = redis.register_script(REMOVE_LUA)
        self._prune: AsyncScript = redis.register_script(PRUNE_LUA)

    async def admit(self, meeting_id: str, member: Member, limit: int) -> dict[str, Member] | None:
        """Adds the member unless the meeting holds `limit` connections; returns everyone
        there (the member included), or None when the meeting is full."""
        await self.redis.sadd(rooms_key(self.instance), meeting_id)
        record = orjson.dumps(member.to_record())
        reply = await self._admit(
            keys=[room_key(meeting_id)], args=[limit, member.participant_id, record]
        )
        if int(reply[0]) == 0:
            return None
        return _members(reply[1])

    async def remove(self, meeting_id: str, member: Member) -> int:
        """Removes the member; returns how many entries its presence key still has."""
        reply = await self._remove(
            keys=[room_key(meeting_id)], args=[member.participant_id, member.presence_key]
        )
        return int(reply[1])

    async def forget_room(self, meeting_id: str) -> None:
        """This instance has no connection left in the meeting (call under its lock)."""
        await self.redis.srem(rooms_key(self.instance), meeting_id)

    async def members(self, meeting_id: str) -> dict[str, Member]:
        return _members(list(_flatten(await self.redis.hgetall(room_key(meeting_id)))))

    async def alive(self, instances: Iterable[str]) -> set[str]:
        wanted = sorted(set(instances))
        if not wanted:
            return set()
        pipe = self.redis.pipeline(transaction=False)
        for instance in wanted:
            pipe.exists(alive_key(instance))
        found = await pipe.execute()
        return {instance for instance, exists in zip(wanted, found, strict=True) if exists}

    async def heartbeat(self, counts: Counts) -> str:
        """Renews this instance's alive key: "ok"; "missing" when the key is gone (Redis
        restarted or lost it) and "reaped" when the others took this instance for dead:
        in both cases the registry must be re-synced."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(alive_key(self.instance), counts.encode(), px=self.ttl_ms, xx=True)
        pipe.exists(f"signal:reaped:{self.instance}")
        renewed, reaped = await pipe.execute()
        if reaped:
            return "reaped"
        return "ok" if renewed else "missing"

    async def resync(
        self, local: dict[str, list[Member]], counts: Counts
    ) -> dict[str, dict[str, Member]]:
        """Puts this instance's entries back exactly as `local` says (meeting → members):
        removes its stale ones (connections that closed while Redis was away), re-adds the
        live ones, then marks the instance alive. Returns each local meeting's entries."""
        known = {_text(m) for m in await self.redis.smembers(rooms_key(self.instance))}
        rooms: dict[str, dict[str, Member]] = {}
        for meeting_id in sorted(known | set(local)):
            members = local.get(meeting_id, [])
            keep = [m.participant_id for m in members]
            reply = await self._prune(keys=[room_key(meeting_id)], args=[self.instance, *keep])
            if members:
                pipe = self.redis.pipeline(transaction=False)
                for member in members:
                    pipe.hset(
                        room_key(meeting_id),
                        member.participant_id,
                        orjson.dumps(member.to_record()),
                    )
                await pipe.execute()
                remaining = _members(reply[1])
                remaining.update({m.participant_id: m for m in members})
                rooms[meeting_id] = remaining
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(rooms_key(self.instance))
        if local:
            pipe.sadd(rooms_key(self.instance), *local)
        pipe.set(alive_key(self.instance), counts.encode(), px=self.ttl_ms)
        pipe.sadd(INSTANCES, self.instance)
        pipe.delete(f"signal:reaped:{self.instance}")
        await pipe.execute()
        return rooms

    async def overview(self) -> tuple[dict[str, Counts], set[str]]:
        """Every live instance's counts at its last heartbeat, and the meetings where they
        have sockets (the operator dashboard's view)."""
        instances = sorted(_text(i) for i in await self.redis.smembers(INSTANCES))
        pipe = self.redis.pipeline(transaction=False)
        for instance in instances:
            pipe.get(alive_key(instance))
            pipe.smembers(rooms_key(instance))
        replies = await pipe.execute() if instances else []
        counts: dict[str, Counts] = {}
        meetings: set[str] = set()
        for instance, value, rooms in zip(instances, replies[::2], replies[1::2], strict=True):
            if value is not None:
                counts[instance] = Counts.decode(value)
                meetings |= {_text(m) for m in rooms}
        return counts, meetings

    async def dead_instances(self) -> list[str]:
        others = {_text(i) for i in await self.redis.smembers(INSTANCES)} - {self.instance}
        return sorted(others - await self.alive(others))

    async def reap(self, dead: str) -> list[Reaped] | None:
        """Removes every entry of a dead instance, meeting by meeting; None when another
        process is already reaping it. Each entry is removed by exactly one caller."""
        lock = f"signal:reap:{dead}"
        mine = self.instance.encode()
        taken = await self.redis.set(lock, mine, nx=True, px=REAP_LOCK_MS)
        if not taken and await self.redis.get(lock) != mine:  # ours: a retried call
            return None
        results: list[Reaped] = []
        for raw in await self.redis.smembers(rooms_key(dead)):
            meeting_id = _text(raw)
            reply = await self._prune(keys=[room_key(meeting_id)], args=[dead])
            removed = _members(reply[0])
            if removed:
                results.append(Reaped(meeting_id, removed, _members(reply[1])))
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(rooms_key(dead))
        pipe.srem(INSTANCES, dead)
        pipe.set(f"signal:reaped:{dead}", b"1", px=REAPED_MARK_MS)
        pipe.delete(lock)
        await pipe.execute()
        return results

    async def leave(self, local: dict[str, list[Member]]) -> None:
        """On a clean shutdown: this instance's remaining entries and keys go at once, so
        the others need not wait for its alive key to expire."""
        for meeting_id, members in local.items():
            if members:
                await self.redis.hdel(room_key(meeting_id), *(m.participant_id for m in members))
        pipe = self.redis.pipeline(transaction=False)
        pipe.srem(INSTANCES, self.instance)
        pipe.delete(alive_key(self.instance), rooms_key(self.instance))
        await pipe.execute()


def _flatten(mapping: dict[Any, Any]) -> Iterable[Any]:
    for name, value in mapping.items():
        yield name
        yield value
