"""The Redis side of the cache: its scripts and commands, on one node or a cluster.

Every method raises on a Redis error (the engine counts, logs and falls back). Concurrent
commands are bounded by `Slots` (one per pooled connection). On a cluster, scripts touch
one key each and ordered steps are separate round trips (a cluster pipeline does not keep
order across nodes); on one node they are single scripts or one pipeline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from gomeet.cache import scripts
from gomeet.cache.slots import Slots
from gomeet.redis_sentinel import MasterChanged

Raw = bytes | int  # what GET_OR_LEASE answers: the stored entry, or 0 = the lease is ours
Step = tuple[str, tuple[Any, ...]]

INVALIDATE_CHANNEL: Final = "cache:invalidate"  # in-process tiers: keys to drop
FILL_CHANNEL: Final = "cache:filled"  # lease waiters: a key was filled, or its fill failed


def now_ms() -> int:
    """The score of a page in its owner index (registration time)."""
    return int(time.time() * 1000)


class RedisStore:
    def __init__(self, redis: Redis | RedisCluster, slots: int) -> None:
        self.redis: Any = redis
        self.slots = Slots(slots)
        self.cluster = isinstance(redis, RedisCluster)
        # Bumped when the Redis master changes (Sentinel): a read begun before is not used.
        self.epoch = 0
        register = redis.register_script
        self._get_or_lease = register(scripts.GET_OR_LEASE)
        self._get_or_lease_page = register(scripts.GET_OR_LEASE_PAGE)
        self._register_page = register(scripts.REGISTER_PAGE)
        self._store = register(scripts.STORE_IF_OWNER)
        self._release = register(scripts.RELEASE_IF_OWNER)
        self._extend = register(scripts.EXTEND_IF_OWNER)
        self._begin_refresh = register(scripts.BEGIN_REFRESH)
        self._begin_refresh_page = register(scripts.BEGIN_REFRESH_PAGE)
        self._drop_index = register(scripts.DROP_INDEX)
        self._pop_index = register(scripts.POP_INDEX)
        self._hincrby_all = register(scripts.HINCRBY_ALL)
        self._hset_and_log = register(scripts.HSET_AND_LOG)

    # ---------------------------------------------------------------- the fill path

    async def get_or_lease(
        self, name: str, marker: bytes, lease_ms: bytes, page: tuple[str, int, int] | None
    ) -> Raw:
        """One round trip: the entry, or 0 when it was absent and `marker` is now its lease.
        `page` = (owner index, cap, index ms): the page is registered in its index with the
        lease, before any load starts."""
        slots = self.slots
        if slots.free > 0:  # inline fast path of `async with slots`
            slots.free -= 1
            try:
                return await self._lease(name, marker, lease_ms, page)
            finally:
                slots.release()
        async with slots:
            return await self._lease(name, marker, lease_ms, page)

    async def _lease(
        self, name: str, marker: bytes, lease_ms: bytes, page: tuple[str, int, int] | None
    ) -> Raw:
        redis = self.redis
        epoch = self.epoch
        try:
            if page is None or self.cluster:
                raw: Raw = await redis.evalsha(self._get_or_lease.sha, 1, name, marker, lease_ms)
            else:
                index, cap, index_ms = page
                raw = await redis.evalsha(
                    self._get_or_lease_page.sha, 2, name, index,
                    marker, lease_ms, now_ms(), cap, index_ms,
                )  # fmt: skip
        except NoScriptError:  # Redis restarted (or flushed its scripts): load and run
            if page is None or self.cluster:
                raw = await self._get_or_lease(keys=[name], args=[marker, lease_ms])
            else:
                index, cap, index_ms = page
                raw = await self._get_or_lease_page(
                    keys=[name, index], args=[marker, lease_ms, now_ms(), cap, index_ms]
                )
        if self.epoch != epoch:
            raise MasterChanged("the Redis master changed during the read")
        if page is not None and self.cluster and not isinstance(raw, bytes):
            await self._register(name, page)  # another slot: next, still before the load
        return raw

    async def _register(self, name: str, page: tuple[str, int, int]) -> None:
        index, cap, index_ms = page
        evicted = await self._register_page(keys=[index], args=[name, now_ms(), cap, index_ms])
        for old in evicted or ():
            await self.redis.unlink(old)

    async def store_if_owner(self, name: str, marker: bytes, payload: bytes, ttl_ms: int) -> bool:
        """Store if the key still holds `marker`, and wake the waiters; True if stored."""
        async with self.slots:
            args: list[bytes | int | str] = [marker, payload, ttl_ms, FILL_CHANNEL]
            return bool(await self._store(keys=[name], args=args))

    async def release(self, name: str, marker: bytes, notice: bytes) -> bool:
        """Give up our lease and publish `notice`; True if it was still ours."""
        async with self.slots:
            return bool(await self._release(keys=[name], args=[marker, FILL_CHANNEL, notice]))

    async def extend_many(self, leases: list[tuple[str, bytes]], ms: int) -> None:
        """Extend these (key, marker) leases by `ms` where they are still the owners'."""
        async with self.slots:
            pipe = self.redis.pipeline(transaction=False)
            for name, marker in leases:
                await self._queue(pipe, self._extend, [name], [marker, ms])
            await pipe.execute()

    async def _queue(self, pipe: Any, script: Any, keys: list[str], args: list[Any]) -> None:
        """A script in a pipeline (redis-py loads it first when Redis lacks it)."""
        queued = script(keys=keys, args=args, client=pipe)
        if asyncio.iscoroutine(queued):
            await queued

    async def begin_refresh(
        self, name: str, prefix: bytes, threshold_ms: int, page: tuple[str, int, int] | None
    ) -> bool:
        """Wrap a value in its last `threshold_ms` in our refresh marker (a page is
        re-registered in its index like a first fill); True if the refresh is ours."""
        async with self.slots:
            if page is None or self.cluster:
                began = bool(await self._begin_refresh(keys=[name], args=[prefix, threshold_ms]))
                if began and page is not None:
                    await self._register(name, page)
                return began
            index, cap, index_ms = page
            args: list[bytes | int] = [prefix, threshold_ms, now_ms(), cap, index_ms]
            return bool(await self._begin_refresh_page(keys=[name, index], args=args))

    # --------------------------------------------------------------- invalidation

    async def invalidate(
        self, names: Sequence[str], indexes: Sequence[str], message: bytes
    ) -> tuple[list[int], list[int]]:
        """Delete `names` and every page of `indexes` (and the indexes), then publish
        `message` for the in-process tiers, in this order. Returns the UNLINK results of
        `names` and the number of pages deleted per index."""
        async with self.slots:
            if not self.cluster:
                try:
                    return await self._invalidate_one_node(names, indexes, message)
                except NoScriptError:  # Redis restarted: load the script, run it all again
                    self._drop_index.sha = await self.redis.script_load(scripts.DROP_INDEX)
                    return await self._invalidate_one_node(names, indexes, message)
            pages: list[int] = []
            doomed: list[str] = []
            for index in indexes:  # each index in its own slot: one script each
                members = [m.decode() for m in await self._pop_index(keys=[index])]
                pages.append(len(members))
                doomed.extend(members)
            unlinked = await self._unlink_each([*names, *doomed])
            await self.redis.publish(INVALIDATE_CHANNEL, message)
            return unlinked[: len(names)], pages

    async def _invalidate_one_node(
        self, names: Sequence[str], indexes: Sequence[str], message: bytes
    ) -> tuple[list[int], list[int]]:
        """One pipeline (idempotent, so it may run again after a NoScriptError)."""
        pipe = self.redis.pipeline(transaction=False)
        for index in indexes:
            pipe.evalsha(self._drop_index.sha, 1, index)
        for name in names:
            pipe.unlink(name)
        pipe.publish(INVALIDATE_CHANNEL, message)
        results = await pipe.execute()
        n = len(indexes)
        return [int(r) for r in results[n : n + len(names)]], [int(r) for r in results[:n]]

    async def _unlink_each(self, names: Iterable[str]) -> list[int]:
        names = list(names)
        if not names:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            queued = pipe.unlink(name)
            if asyncio.iscoroutine(queued):  # redis-py's cluster pipeline awaits a few
                await queued
        return [int(r) for r in await pipe.execute()]

    async def set_value(
        self, name: str, data: bytes, ttl_ms: int, page: tuple[str, int, int] | None, msg: bytes
    ) -> None:
        """Write-through: store (overwriting any lease), register a page, then publish."""
        async with self.slots:
            await self.redis.set(name, data, px=ttl_ms)
            if page is not None:
                await self._register(name, page)
            await self.redis.publish(INVALIDATE_CHANNEL, msg)

    async def scan_unlink(self, pattern: str, batch: int = 500) -> list[str]:
        """SCAN MATCH + UNLINK in batches; the names deleted."""
        deleted: list[str] = []
        found: list[str] = []
        async for raw in self.redis.scan_iter(match=pattern, count=1000):
            found.append(raw.decode() if isinstance(raw, bytes) else raw)
            if len(found) >= batch:
                deleted.extend(await self._unlink_found(found))
                found = []
        if found:
            deleted.extend(await self._unlink_found(found))
        return deleted

    async def _unlink_found(self, names: list[str]) -> list[str]:
        async with self.slots:
            results = await self._unlink_each(names)
        return [name for name, r in zip(names, results, strict=True) if r]

    async def publish(self, channel: str, message: bytes) -> None:
        async with self.slots:
            await self.redis.publish(channel, message)

    # ------------------------------------------------------------------ plain commands

    async def get(self, name: str) -> bytes | None:
        epoch = self.epoch
        async with self.slots:
            raw: bytes | None = await self.redis.get(name)
        if self.epoch != epoch:
            raise MasterChanged("the Redis master changed during the read")
        return raw

    async def entry(self, name: str) -> tuple[bytes | None, int]:
        """The raw entry and its PTTL (ms; negative when absent or without expiry)."""
        async with self.slots:
            raw = await self.redis.get(name)
            pttl = await self.redis.pttl(name)
        return raw, int(pttl)

    async def ping(self) -> None:
        async with self.slots:
            await self.redis.ping()

    async def hincrby_all(self, key: str, deltas: dict[str, int], stamp: tuple[str, str]) -> None:
        """HINCRBY every delta and HSET the stamp, atomically (one script, one key)."""
        args: list[str | int] = [*stamp]
        for field, delta in deltas.items():
            args += (field, delta)
        async with self.slots:
            await self._hincrby_all(keys=[key], args=args)

    async def hset_and_log(
        self, key: str, field: str, value: bytes, log: str, entry: bytes, kept: int
    ) -> None:
        """HSET `field` of `key`, push `entry` on the list `log` and keep its newest `kept`,
        atomically (one script: the two keys must share a hash slot on a cluster)."""
        async with self.slots:
            await self._hset_and_log(keys=[key, log], args=[field, value, entry, kept])

    async def hgetall(self, key: str) -> dict[bytes, bytes]:
        async with self.slots:
            raw: dict[bytes, bytes] = await self.redis.hgetall(key)
            return raw

    async def open_connections(self, count: int) -> int:
        """Open `count` pooled connections at once (on every primary of a cluster); how
        many opened. Failures are left to the breaker's probes."""

        async def ping() -> None:
            async with self.slots:
                if self.cluster:
                    await self.redis.ping(target_nodes=RedisCluster.PRIMARIES)
                else:
                    await self.redis.ping()

        if self.cluster:  # the slots map first: callers queued on its lock run one by one
            await self.redis.initialize()
        results = await asyncio.gather(*(ping() for _ in range(count)), return_exceptions=True)
        return sum(result is None for result in results)

    async def round_trip(self, name: str, token: bytes) -> tuple[bool, bytes | None, int, int]:
        """The health probe: SET, GET, UNLINK, EXISTS of a key unique to the probe."""
        async with self.slots:
            ok = await self.redis.set(name, token, px=10_000)
            got = await self.redis.get(name)
            removed = await self.redis.unlink(name)
            left = await self.redis.exists(name)
        return bool(ok), got, int(removed), int(left)

    async def unlink(self, name: str) -> None:
        async with self.slots:
            await self.redis.unlink(name)
