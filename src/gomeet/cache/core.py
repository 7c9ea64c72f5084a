"""The fill path and the invalidation path of the cache (policy; no domain knowledge).

Read (`get_or_load`): in-process tier → Redis `GET_OR_LEASE` (one Lua round trip: the
value, or, when absent, a lease `~lease:<token>` taken for us, list pages registered in
their owner index with it) → on a miss, in-process single-flight (one load per key per
process) → loader → store only if the key still holds our lease (Lua compare-and-set) →
done. A miss costs two round trips, a hit one. A reader that finds another instance's lease
polls briefly for its value, then loads without storing. Redis failing or the breaker
open: the loader answers at once, nothing is stored.

Invalidate: forget the key locally (in-process tier, single-flight) → UNLINK it (which
voids any lease in flight, so a filler that read the database before the commit can never
store what it read) → publish it for the other instances' in-process tiers. When Redis
cannot be reached the invalidation is kept and replayed before the cache is used again.

Values returned by the cache are shared (joiners of a load, the in-process tier): callers
must treat them as read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gomeet.cache import codec, keys, scripts
from gomeet.cache.breaker import CircuitBreaker
from gomeet.cache.bus import CHANNEL, InvalidationBus, message
from gomeet.cache.families import CacheKey, Family
from gomeet.cache.local import LocalTier
from gomeet.cache.oplog import OpLog, display_key
from gomeet.cache.slots import Slots
from gomeet.cache.stats import (
    DELETES,
    ERRORS,
    FALLBACKS,
    HITS,
    L1_HITS,
    LAST_UPDATED,
    LOADS,
    MISSES,
    OTHER,
    SETS,
    CacheStats,
    now_iso,
)
from gomeet.config import Settings

JSON = Any
Loader = Callable[[], Awaitable[JSON | None]]
_Lead = Callable[[], Awaitable[tuple[JSON, bool, bool]]]  # -> (value, hit, valid)
Raw = bytes | int  # what GET_OR_LEASE answers: the stored entry, or 0 = the lease is ours
_TRIPS: Final = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
_MAX_STEPS: Final = 64
monotonic = time.monotonic
perf_counter = time.perf_counter
loads = orjson.loads


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """Tuning knobs; the defaults are what the app runs with."""

    lease_ttl: float = 2.0  # s a lease blocks other fillers if its owner dies mid-load
    lease_wait: float = 0.2  # s a reader waits for another instance's fill, then loads itself
    negative_ttl: float = 30.0  # s an absent result (loader returned None) is cached
    breaker_threshold: int = 3  # consecutive Redis failures that open the breaker
    breaker_cooldown: float = 0.5  # s before the first probe; doubles per failed probe
    breaker_max_cooldown: float = 5.0
    flush_interval: float = 1.0  # s between stats flushes (and invalidation replays)
    compress_min_bytes: int = 64 * 1024  # values this large are stored zlib-compressed
    refresh_ahead: float = 0.1  # refresh early when less than this share of the TTL is left
    refresh_sample: int = 256  # 1 in N Redis hits checks the remaining TTL (0: never)
    pending_max: int = 10_000  # invalidations kept while Redis is unreachable
    redis_slots: int | None = None  # concurrent Redis commands (default: the pool size)


class _Flight:
    """A load in progress in this process; others with the same key await its result."""

    __slots__ = ("future", "index", "voided")

    def __init__(self, future: asyncio.Future[tuple[JSON, bool]], index: str | None) -> None:
        self.future = future
        self.index = index
        self.voided = False  # an invalidation happened during the load: joiners reload


class CacheCore:
    def __init__(
        self,
        redis: Redis | None = None,
        settings: Settings | None = None,
        options: CacheOptions | None = None,
    ) -> None:
        self.enabled = bool(redis is not None and settings is not None and settings.gomeet_cache)
        self.options = opts = options or CacheOptions()
        self.origin = uuid.uuid4().hex
        self.stats = CacheStats()
        self._counts = self.stats.counts
        self._h_get = self.stats.ops["get"]
        self._h_set = self.stats.ops["set"]
        self._log = OpLog()
        self.breaker = CircuitBreaker(
            opts.breaker_threshold, opts.breaker_cooldown, opts.breaker_max_cooldown
        )
        self._flights: dict[str, _Flight] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending_names: set[str] = set()
        self._pending_indexes: set[str] = set()
        self._pending_patterns: set[str] = set()
        self._pending_overflow = False
        self._countdown = opts.refresh_sample or sys.maxsize
        # Lease tokens: a random per-process half and a counter (cheaper than a random token).
        self._marker_head = codec.LEASE + secrets.token_hex(codec.TOKEN_BYTES // 2).encode()
        self._marker_count = 0
        self._lease_ms = max(1, int(opts.lease_ttl * 1000))
        self._lease_arg = str(self._lease_ms).encode()  # encoded once, sent with every read
        self._negative_ms = max(1, int(opts.negative_ttl * 1000))
        self._ttl_ms: dict[str, int] = {}
        self.l1: LocalTier | None = None
        self._l1_data: dict[str, tuple[float, Any, str | None]] = {}
        self._l1_live = False  # serve the in-process tier (only while subscribed)
        self._l1_seq = 0  # bumped by every invalidation seen: guards tier fills
        self._bus: InvalidationBus | None = None
        self._redis: Any = redis
        self._slots = Slots(1)
        self._cluster = isinstance(redis, RedisCluster)
        self._started = False
        self._stopping = asyncio.Event()
        self._maintenance: asyncio.Task[Any] | None = None
        self._flush_lock = asyncio.Lock()
        if not self.enabled or redis is None or settings is None:
            return
        self._ttl_ms = {f.value: settings.cache_ttl(f.value) * 1000 for f in Family}
        self._slots = Slots(opts.redis_slots or settings.redis_max_connections)
        self._get_or_lease_script = redis.register_script(scripts.GET_OR_LEASE)
        self._get_or_lease_indexed = redis.register_script(scripts.GET_OR_LEASE_INDEXED)
        self._store = redis.register_script(scripts.STORE_IF_OWNER)
        self._release = redis.register_script(scripts.RELEASE_IF_OWNER)
        self._begin_refresh = redis.register_script(scripts.BEGIN_REFRESH)
        if settings.gomeet_cache_l1:
            self.l1 = LocalTier(settings.gomeet_cache_l1_max_items, settings.gomeet_cache_l1_ttl)
            self._l1_data = self.l1.data
            self._bus = InvalidationBus(
                redis, self.origin, self._on_bus_live, self._on_bus_message, self._on_bus_error
            )

    # ------------------------------------------------------------------ read path

    async def get_or_load(self, key: CacheKey, loader: Loader) -> JSON | None:
        """The value under `key`, or `loader()`'s result, stored for the family's TTL.

        `loader` returns JSON-ready data (what the endpoint sends) or None for "absent"
        (cached briefly too). A hit returns exactly the JSON a miss returns. Cache errors
        are counted and logged, never raised; the loader's own errors propagate.
        """
        if not self.enabled:
            return await loader()
        name = key.key
        if self._l1_live:
            entry = self._l1_data.get(name)
            if entry is not None:
                if entry[0] > monotonic():
                    counts = self._counts[key.family]
                    counts[HITS] += 1
                    counts[L1_HITS] += 1
                    if self._log.enabled:
                        self._log.done("get", name, True, 0.0, tier="l1")
                    return entry[1]
                assert self.l1 is not None
                self.l1.drop((name,))
        if not self.breaker.closed:
            return await self._fallback(key, loader, None)
        seq = self._l1_seq
        slots = self._slots
        self._marker_count = count = (self._marker_count + 1) & 0xFFFFFFFF
        marker = b"%s%08x" % (self._marker_head, count)
        t0 = perf_counter()
        try:
            if slots.free > 0:  # inline fast path of `async with self._slots`
                slots.free -= 1
                try:
                    raw = await self._get_or_lease(key, marker)
                finally:
                    slots.release()
            else:
                async with slots:
                    raw = await self._get_or_lease(key, marker)
        except Exception as exc:
            self._failed("get", name, t0, exc, key.family)
            return await self._fallback(key, loader, exc)
        self.breaker.failures = 0
        if isinstance(raw, bytes) and raw[:1] != b"~":
            try:
                value = loads(raw)
            except orjson.JSONDecodeError:
                pass  # corrupt: the slow path deletes and reloads it
            else:
                seconds = perf_counter() - t0
                self._counts[key.family][HITS] += 1
                self._h_get.observe(seconds)
                if self._log.enabled:
                    self._log.done("get", name, True, seconds)
                if self._l1_live and seq == self._l1_seq:
                    assert self.l1 is not None
                    self.l1.put(name, value, key.index, monotonic())
                self._countdown -= 1
                if self._countdown <= 0:
                    self._countdown = self.options.refresh_sample or sys.maxsize
                    return await self._refresh(key, loader, value)
                return value
        seconds = perf_counter() - t0
        self._h_get.observe(seconds)
        if self._log.enabled:
            self._log.done("get", name, False, seconds)
        if not isinstance(raw, bytes) and name in self._flights:
            # The lease is ours, but a caller here leads already (it raced us to Redis and
            # found our lease): fill, so that it finds the value instead of waiting.
            value, hit, _ = await self._fill(key, loader, marker)
        else:
            value, hit = await self._single_flight(
                key, lambda: self._lead(key, loader, raw, marker)
            )
        self._counts[key.family][HITS if hit else MISSES] += 1
        return value

    async def _get_or_lease(self, key: CacheKey, marker: bytes) -> Raw:
        """One round trip: the entry, or 0 when it was absent and `marker` is now its lease
        (a list page then registered in its owner index, before any load starts)."""
        name, index = key.key, key.index
        try:
            if index is None or self._cluster:
                raw: Raw = await self._redis.evalsha(
                    self._get_or_lease_script.sha, 1, name, marker, self._lease_arg
                )
            else:
                index_ms = self._ttl_ms[key.family] + self._lease_ms
                raw = await self._redis.evalsha(
                    self._get_or_lease_indexed.sha,
                    2,
                    name,
                    index,
                    marker,
                    self._lease_arg,
                    index_ms,
                )
        except NoScriptError:  # Redis restarted (or flushed its scripts): load and run
            if index is None or self._cluster:
                raw = await self._get_or_lease_script(keys=[name], args=[marker, self._lease_ms])
            else:
                index_ms = self._ttl_ms[key.family] + self._lease_ms
                raw = await self._get_or_lease_indexed(
                    keys=[name, index], args=[marker, self._lease_ms, index_ms]
                )
        if index is not None and self._cluster and not isinstance(raw, bytes):
            # The index lives in another slot: registered next, still before the load.
            index_ms = self._ttl_ms[key.family] + self._lease_ms
            await self._run_steps(
                [[("sadd", (index, name), {}), ("pexpire", (index, index_ms), {})]]
            )
        return raw

    async def _fallback(self, key: CacheKey, loader: Loader, error: BaseException | None) -> JSON:
        """Redis unusable: the loader answers (one load per key in this process)."""
        self._counts[key.family][FALLBACKS] += 1
        if error is None:
            self._maybe_probe()
            if self._log.enabled:
                self._log.failed("get", key.key, 0.0, "circuit open")

        async def lead() -> tuple[JSON, bool, bool]:
            return (await self._load(key, loader))[0], False, True

        value, _ = await self._single_flight(key, lead)
        return value

    async def _single_flight(
        self, key: CacheKey, lead: _Lead, attempt: int = 0
    ) -> tuple[JSON, bool]:
        name = key.key
        flight = self._flights.get(name)
        if flight is None:
            flight = _Flight(asyncio.get_running_loop().create_future(), key.index)
            self._flights[name] = flight
            try:
                value, hit, valid = await lead()
            except BaseException as exc:
                _settle_error(flight.future, exc)
                raise
            finally:
                if self._flights.get(name) is flight:
                    del self._flights[name]
            if not valid:
                flight.voided = True
            if not flight.future.done():
                flight.future.set_result((value, hit))
            return value, hit
        try:
            value, hit = await asyncio.shield(flight.future)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            retry = True  # the leader was cancelled (its client went away)
        else:
            # Invalidated while loading: what it loaded may predate the write. Start over.
            retry = flight.voided
        if not retry:
            return value, hit
        if attempt < 2:
            return await self._single_flight(key, lead, attempt + 1)
        value, hit, _ = await lead()
        return value, hit

    async def _lead(
        self, key: CacheKey, loader: Loader, raw: Raw, marker: bytes
    ) -> tuple[JSON, bool, bool]:
        """Resolve a miss: fill under our lease, wait for another filler, or decode."""
        name = key.key
        deadline = 0.0
        delay = 0.002
        for _ in range(_MAX_STEPS):
            if not isinstance(raw, bytes):  # the lease is ours
                return await self._fill(key, loader, marker)
            if codec.is_lease(raw):
                now = monotonic()
                if not deadline:
                    deadline = now + self.options.lease_wait
                elif now >= deadline:  # the other filler is slow: load, leave its lease be
                    return (await self._load(key, loader))[0], False, True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.02)
            else:
                try:
                    return codec.decode(raw), True, True
                except codec.CorruptValue as exc:
                    self._failed("get", name, perf_counter(), exc, key.family)
                    if not await self._try_unlink(name):
                        return (await self._load(key, loader))[0], False, True
            t0 = perf_counter()
            try:
                async with self._slots:
                    raw = await self._get_or_lease(key, marker)
            except Exception as exc:
                self._failed("get", name, t0, exc, key.family)
                return (await self._load(key, loader))[0], False, True
        return (await self._load(key, loader))[0], False, True

    async def _fill(self, key: CacheKey, loader: Loader, marker: bytes) -> tuple[JSON, bool, bool]:
        name = key.key
        seq = self._l1_seq
        try:
            value, data = await self._load(key, loader)
        except BaseException:
            self._spawn(self._give_up(name, marker))
            raise
        stored = await self._store_owned(key, marker, data, value is None)
        if stored and self._l1_live and seq == self._l1_seq:
            assert self.l1 is not None
            self.l1.put(name, value, key.index, monotonic())
        return value, False, stored is not False

    async def _store_owned(
        self, key: CacheKey, marker: bytes, data: bytes, negative: bool
    ) -> bool | None:
        """Store if the key still holds `marker`: True stored, False voided, None error."""
        name = key.key
        ttl_ms = self._ttl(key.family, negative)
        payload = codec.pack(data, self.options.compress_min_bytes)
        t0 = perf_counter()
        try:
            async with self._slots:
                stored = bool(await self._store(keys=[name], args=[marker, payload, ttl_ms]))
        except Exception as exc:
            self._failed("set", name, t0, exc, key.family)
            return None
        self.breaker.failures = 0
        seconds = perf_counter() - t0
        self._h_set.observe(seconds)
        if stored:
            self._counts[key.family][SETS] += 1
        if self._log.enabled:
            self._log.done("set", name, False, seconds, stored=stored)
        return stored

    async def _refresh(self, key: CacheKey, loader: Loader, value: JSON) -> JSON:
        """Early refresh of a hot key in its last `refresh_ahead` share of TTL.

        One caller (across all instances) wins the refresh marker and reloads; everyone
        else keeps being served the value the marker carries. The winner reloads in its
        own request, because loaders use the request's database session, which must not
        be used from a background task.
        """
        name = key.key
        prefix = codec.refresh_prefix()
        threshold = int(self._ttl_ms[key.family] * self.options.refresh_ahead)
        t0 = perf_counter()
        try:
            async with self._slots:
                began = await self._begin_refresh(keys=[name], args=[prefix, threshold])
        except Exception as exc:
            self._failed("refresh", name, t0, exc, key.family)
            return value
        if not began:
            return value
        if self._log.enabled:
            self._log.done("refresh", name, True, perf_counter() - t0)
        seq = self._l1_seq
        try:
            fresh, data = await self._load(key, loader)
        except Exception as exc:
            self._failed("load", name, t0, exc, key.family, redis=False)
            return value  # the cached value stays valid until its TTL
        stored = await self._store_owned(key, prefix, data, fresh is None)
        if stored and self._l1_live and seq == self._l1_seq:
            assert self.l1 is not None
            self.l1.put(name, fresh, key.index, monotonic())
        return fresh

    async def _load(self, key: CacheKey, loader: Loader) -> tuple[JSON, bytes]:
        """Call the loader; return its value as a hit would (JSON round trip) and the JSON."""
        self._counts[key.family][LOADS] += 1
        t0 = perf_counter()
        value = await loader()
        self.stats.ops["load"].observe(perf_counter() - t0)
        data = orjson.dumps(value)
        return (loads(data) if value is not None else None), data

    def _ttl(self, family: str, negative: bool) -> int:
        """The family's TTL in ms with up to 10 % jitter below it (never above)."""
        nominal = self._ttl_ms[family]
        if negative:
            return min(self._negative_ms, nominal)
        return nominal - int(nominal * 0.1 * random.random())  # noqa: S311 - not crypto

    async def _give_up(self, name: str, marker: bytes) -> None:
        with contextlib.suppress(Exception):
            async with self._slots:
                await self._release(keys=[name], args=[marker])

    # ---------------------------------------------------------- invalidation path

    async def invalidate_names(self, names: Iterable[str], indexes: Iterable[str] = ()) -> int:
        """Delete keys and every page registered in the given owner indexes; void fills."""
        if not self.enabled:
            return 0
        names, indexes = list(names), list(indexes)
        if not names and not indexes:
            return 0
        self._forget(names, indexes)
        label = ",".join(map(display_key, [*names, *indexes]))
        if not self.breaker.closed:
            self._defer(names, indexes)
            self._maybe_probe()
            if self._log.enabled:
                self._log.failed("delete", label, 0.0, "circuit open: kept for replay")
            return 0
        t0 = perf_counter()
        try:
            deleted = await self._unlink(names, indexes)
        except Exception as exc:
            self._failed("delete", label, t0, exc, None)
            self._defer(names, indexes)
            self._trip()
            return 0
        seconds = perf_counter() - t0
        self.stats.ops["delete"].observe(seconds)
        if self._log.enabled:
            self._log.done("delete", label, deleted > 0, seconds, deleted=deleted)
        return deleted

    async def _unlink(self, names: list[str], indexes: list[str]) -> int:
        """SMEMBERS the indexes, then SREM + UNLINK + PUBLISH, in this order."""
        redis = self._redis
        members: dict[str, list[str]] = {}
        async with self._slots:
            if indexes:
                pipe = redis.pipeline(transaction=False)
                for index in indexes:
                    pipe.smembers(index)
                for index, found in zip(indexes, await pipe.execute(), strict=True):
                    if found:
                        members[index] = sorted(m.decode() for m in found)
            doomed = [*names, *(m for ms in members.values() for m in ms)]
            steps: list[list[tuple[str, tuple[Any, ...], dict[str, Any]]]] = [
                [("srem", (index, *ms), {}) for index, ms in members.items()],
                [("unlink", (name,), {}) for name in doomed],
                [("publish", (CHANNEL, message(self.origin, names, indexes, False)), {})],
            ]
            results = await self._run_steps(steps)
        deleted = sum(int(r) for r in results[1])
        self.breaker.failures = 0
        self._count_deletes(doomed, results[1])
        return deleted

    async def _run_steps(
        self, steps: list[list[tuple[str, tuple[Any, ...], dict[str, Any]]]]
    ) -> list[list[Any]]:
        """Run groups of commands in order: one pipeline, or (a cluster pipeline does not
        keep order across nodes) one pipeline per group on a cluster."""
        redis = self._redis
        if self._cluster:
            out = []
            for group in steps:
                if len(group) == 1:  # e.g. PUBLISH, which a cluster pipeline refuses
                    command, args, kwargs = group[0]
                    out.append([await getattr(redis, command)(*args, **kwargs)])
                    continue
                pipe = redis.pipeline(transaction=False)
                for command, args, kwargs in group:
                    await self._queue(pipe, command, *args, **kwargs)
                out.append(await pipe.execute() if group else [])
            return out
        pipe = redis.pipeline(transaction=False)
        for group in steps:
            for command, args, kwargs in group:
                getattr(pipe, command)(*args, **kwargs)
        flat = await pipe.execute()
        out, i = [], 0
        for group in steps:
            out.append(flat[i : i + len(group)])
            i += len(group)
        return out

    async def _queue(self, pipe: Any, command: str, *args: Any, **kwargs: Any) -> None:
        """Queue a command; redis-py's cluster pipeline has a few that must be awaited."""
        queued = getattr(pipe, command)(*args, **kwargs)
        if self._cluster and asyncio.iscoroutine(queued):
            await queued

    def _count_deletes(self, names: list[str], results: list[Any]) -> None:
        for name, result in zip(names, results, strict=True):
            if result:
                family = keys.family_of(name)
                self._counts[family.value if family else OTHER][DELETES] += 1

    async def delete_pattern(self, pattern: str) -> int:
        """SCAN MATCH + UNLINK in batches; the in-process tiers are emptied."""
        if not self.enabled:
            return 0
        self._forget_all()
        if not self.breaker.closed:
            self._defer_pattern(pattern)
            self._maybe_probe()
            return 0
        t0 = perf_counter()
        try:
            deleted = await self._scan_unlink(pattern)
        except Exception as exc:
            self._failed("delete_pattern", pattern, t0, exc, None)
            self._defer_pattern(pattern)
            self._trip()
            return 0
        seconds = perf_counter() - t0
        self.stats.ops["delete"].observe(seconds)
        if self._log.enabled:
            self._log.done("delete_pattern", pattern, deleted > 0, seconds, deleted=deleted)
        return deleted

    async def _scan_unlink(self, pattern: str, batch: int = 500) -> int:
        deleted = 0
        found: list[str] = []

        async def unlink(names: list[str]) -> int:
            async with self._slots:
                pipe = self._redis.pipeline(transaction=False)
                for name in names:
                    await self._queue(pipe, "unlink", name)
                results = await pipe.execute()
            self._count_deletes(names, results)
            return sum(int(r) for r in results)

        async for raw in self._redis.scan_iter(match=pattern, count=1000):
            found.append(raw.decode() if isinstance(raw, bytes) else raw)
            if len(found) >= batch:
                deleted += await unlink(found)
                found = []
        if found:
            deleted += await unlink(found)
        async with self._slots:
            await self._redis.publish(CHANNEL, message(self.origin, (), (), True))
        self.breaker.failures = 0
        return deleted

    async def _try_unlink(self, name: str) -> bool:
        try:
            async with self._slots:
                await self._redis.unlink(name)
        except Exception as exc:
            self._failed("delete", name, perf_counter(), exc, None)
            return False
        return True

    def _forget(self, names: list[str], indexes: list[str]) -> None:
        """Drop from the in-process tier; detach loads in flight so new callers reload."""
        self._l1_seq += 1
        if self.l1 is not None:
            self.l1.drop(names, indexes)
        for name in names:
            flight = self._flights.pop(name, None)
            if flight is not None:
                flight.voided = True
        if indexes:
            wanted = set(indexes)
            for name, flight in list(self._flights.items()):
                if flight.index in wanted:
                    flight.voided = True
                    del self._flights[name]

    def _forget_all(self) -> None:
        self._l1_seq += 1
        if self.l1 is not None:
            self.l1.clear()
        for flight in self._flights.values():
            flight.voided = True
        self._flights.clear()

    def _defer(self, names: Iterable[str], indexes: Iterable[str]) -> None:
        self._pending_names.update(names)
        self._pending_indexes.update(indexes)
        self._check_overflow()

    def _defer_pattern(self, pattern: str) -> None:
        self._pending_patterns.add(pattern)
        self._check_overflow()

    def _check_overflow(self) -> None:
        size = len(self._pending_names) + len(self._pending_indexes) + len(self._pending_patterns)
        if size > self.options.pending_max:
            # Too many to remember: on recovery every cached family is flushed instead.
            self._pending_overflow = True
            self._pending_names.clear()
            self._pending_indexes.clear()
            self._pending_patterns.clear()

    @property
    def pending_invalidations(self) -> int:
        pending = len(self._pending_names) + len(self._pending_indexes)
        return pending + len(self._pending_patterns) + (1 if self._pending_overflow else 0)

    async def _replay(self) -> None:
        """Apply the invalidations kept while Redis was unreachable; raise if it still is."""
        names, self._pending_names = self._pending_names, set()
        indexes, self._pending_indexes = self._pending_indexes, set()
        patterns, self._pending_patterns = self._pending_patterns, set()
        overflow, self._pending_overflow = self._pending_overflow, False
        if overflow:
            patterns = {p for family in Family for p in keys.family_patterns(family)}
        try:
            if names or indexes:
                await self._unlink(sorted(names), sorted(indexes))
                names, indexes = set(), set()
            while patterns:
                await self._scan_unlink(next(iter(patterns)))
                patterns.pop()
        except BaseException:
            self._pending_names |= names
            self._pending_indexes |= indexes
            self._pending_patterns |= patterns  # (after an overflow: the family patterns)
            raise
        if overflow or names or indexes:
            self._log.event("cache_invalidations_replayed", overflow=overflow)

    # ------------------------------------------------------------ error handling

    def _failed(
        self,
        op: str,
        name: str,
        t0: float,
        exc: BaseException,
        family: str | None,
        *,
        redis: bool = True,
    ) -> None:
        self._counts[family or OTHER][ERRORS] += 1
        self._log.failed(op, name, perf_counter() - t0, exc)
        trips = isinstance(exc, _TRIPS) and not isinstance(exc, MaxConnectionsError)
        if redis and trips and self.breaker.failure():
            self._log.event("cache_circuit_opened", error=f"{type(exc).__name__}: {exc}")
            self._on_redis_lost()

    def _trip(self) -> None:
        """An invalidation did not reach Redis: Redis may still hold the value from before
        the write, so stop reading it until the probe has replayed what was kept."""
        if self.breaker.closed:
            self.breaker.trip()
            self._log.event("cache_circuit_opened", error="invalidation failed")
            self._on_redis_lost()

    def _on_redis_lost(self) -> None:
        """While the breaker is open the in-process tier could miss invalidations."""
        self._l1_seq += 1
        if self.l1 is not None:
            self.l1.clear()

    def _maybe_probe(self) -> None:
        if self.breaker.probe_due():
            self._spawn(self._probe())

    async def _probe(self) -> None:
        """Half-open: PING, replay kept invalidations, then close; or open again."""
        try:
            async with self._slots:
                await self._redis.ping()
            await self._replay()
        except Exception as exc:
            self.breaker.probe_failed()
            self._counts[OTHER][ERRORS] += 1
            self._log.failed("probe", "", 0.0, exc)
            return
        self._on_redis_lost()  # anything missed while open is gone from the tier
        self.breaker.probe_succeeded()
        self._log.event("cache_circuit_closed")

    # --------------------------------------------------------------- background

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start(self) -> None:
        """Start the background work: stats flushing, probes, the invalidation bus."""
        if not self.enabled or self._started:
            return
        self._started = True
        self._stopping.clear()
        self._maintenance = self._spawn(self._maintain())
        if self._bus is not None:
            self._spawn(self._bus.run())

    async def aclose(self) -> None:
        """Stop the background work and flush the stats one last time."""
        if self._bus is not None:
            self._bus.closing = True
        self._stopping.set()  # the maintenance loop ends between flushes, not inside one
        if self._maintenance is not None:
            await asyncio.wait([self._maintenance], timeout=2.0)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        self._started = False
        if self.enabled:
            if self.breaker.closed and self.pending_invalidations:
                with contextlib.suppress(Exception):
                    await self._replay()
            await self.flush_stats(force=True)

    async def _maintain(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.options.flush_interval)
            if self._stopping.is_set():
                return
            try:
                if self.breaker.closed:
                    if self.pending_invalidations:
                        await self._replay()
                    await self.flush_stats()
                elif self.breaker.probe_due():
                    await self._probe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed("maintain", "", perf_counter(), exc, None)

    async def flush_stats(self, *, force: bool = False) -> bool:
        """Send the counts not yet flushed (HINCRBY in one MULTI/EXEC); keep them on failure."""
        if not self.enabled:
            return False
        async with self._flush_lock:  # two flushes at once would send the same deltas
            return await self._flush_stats(force)

    async def _flush_stats(self, force: bool) -> bool:
        deltas, snapshot = self.stats.pending()
        if not deltas:
            return True
        if not self.breaker.closed and not force:
            return False
        t0 = perf_counter()
        try:
            async with self._slots:
                pipe = self._redis.pipeline(transaction=True)
                for field, delta in deltas.items():
                    pipe.hincrby(keys.STATS_KEY, field, delta)
                pipe.hset(keys.STATS_KEY, LAST_UPDATED, now_iso())
                await pipe.execute()
        except Exception as exc:
            self._failed("flush_stats", keys.STATS_KEY, t0, exc, None)
            return False
        self.stats.mark_flushed(snapshot)
        self.stats.ops["flush_stats"].observe(perf_counter() - t0)
        return True

    # ------------------------------------------------------ invalidation bus hooks

    def _on_bus_live(self, live: bool) -> None:
        self._l1_seq += 1
        if self.l1 is not None:
            self.l1.clear()
        self._l1_live = live and self.l1 is not None
        if self._log.enabled:
            self._log.info("cache_l1_subscription", live=live)

    def _on_bus_message(self, names: list[str], indexes: list[str], everything: bool) -> None:
        if everything:
            self._forget_all()
        else:
            self._forget(names, indexes)

    def _on_bus_error(self, exc: BaseException) -> None:
        self._log.failed("subscribe", CHANNEL, 0.0, exc)


def _settle_error(future: asyncio.Future[Any], exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(exc)
        future.exception()  # retrieved: no "never retrieved" warning without joiners
