"""The fill path: `get_or_load`, the one way the services read through the cache.

In-process tier → Redis `GET_OR_LEASE` (one round trip: the value, or a lease taken for
us, a list page registered in its owner index with it) → on a miss, single-flight in this
process → the loader, under the lease (kept alive while it runs) → store only if the lease
is still ours (an invalidation deletes it) → wake the waiters. A reader that finds another
filler's lease waits for its notice (`leases.py`). Redis failing or the breaker open: the
loader answers at once, nothing is stored (`flight.py` keeps those loads fresh).
"""

from __future__ import annotations

import asyncio
import enum
import random
import sys
from collections.abc import Awaitable, Callable, Coroutine
from time import monotonic, perf_counter
from typing import Any, Final

import orjson

from gomeet.cache import codec, refresh
from gomeet.cache.breaker import CircuitBreaker
from gomeet.cache.families import CacheKey
from gomeet.cache.flight import Flight, Flights
from gomeet.cache.leases import (
    FillNotices,
    LeaseKeeper,
    LoadFailed,
    Markers,
    Notice,
    abandoned_notice,
    failed_notice,
    wait_for_notice,
)
from gomeet.cache.local import LocalTier
from gomeet.cache.meter import Meter
from gomeet.cache.options import CacheOptions
from gomeet.cache.stats import FALLBACKS, HITS, L1_HITS, LOADS, MISSES, SETS
from gomeet.cache.store import Raw, RedisStore

JSON = Any
Loader = Callable[[], Awaitable[JSON | None]]
Counts = list[int]  # one family's counters (`stats.FIELDS`)
loads = orjson.loads


class Missing(enum.Enum):
    """Not cached (`FillPath.cached`): unlike None, which is a cached "absent"."""

    MISSING = enum.auto()


MISSING: Final = Missing.MISSING


class FillPath:
    def __init__(
        self,
        options: CacheOptions,
        store: RedisStore,
        meter: Meter,
        breaker: CircuitBreaker,
        l1: LocalTier | None,
        probe: Callable[[], None],
        spawn: Callable[[Coroutine[Any, Any, Any]], Any],
    ) -> None:
        self.options = options
        self.store = store
        self.meter = meter
        self.counts = meter.counts
        self.breaker = breaker
        self.l1 = l1
        self.flights = Flights()
        self.notices = FillNotices()
        self.markers = Markers()
        self.keeper = LeaseKeeper(self._extend, options.lease_ttl, options.lease_max_hold)
        self._probe = probe
        self._spawn = spawn
        self._lease_ms = max(1, int(options.lease_ttl * 1000))
        self._lease_arg = str(self._lease_ms).encode()  # encoded once, sent with every read
        self._negative_ms = max(1, int(options.negative_ttl * 1000))
        self.ttl_ms = {family: options.ttl_ms(family) for family in options.ttls}
        self._countdown = options.refresh_sample or sys.maxsize

    def page(self, key: CacheKey) -> tuple[str, int, int] | None:
        """(owner index, cap, index TTL ms) of a list page: the index outlives its pages."""
        if key.index is None:
            return None
        return key.index, self.options.max_list_pages, self.ttl_ms[key.family] + self._lease_ms

    async def get_or_load(self, key: CacheKey, loader: Loader) -> JSON | None:
        """The value under `key`, or `loader()`'s result, stored for the family's TTL.

        `loader` returns JSON-ready data (what the endpoint sends) or None for "absent"
        (cached briefly too). A hit returns exactly the JSON a miss returns. Cache errors
        are counted and logged, never raised; the loader's own errors propagate (and
        `LoadFailed` when another instance's load of the key failed while we waited).
        """
        counts = self.counts[key.family]
        if not key.cacheable:
            counts[MISSES] += 1
            return (await self.load(key, loader))[0]
        name = key.key
        flights = self.flights
        flights.clock = arrival = flights.clock + 1
        value, seq = self._from_l1(name, counts)
        if value is not MISSING:
            return value
        if not self.breaker.closed:
            return await self._fallback(key, loader, arrival, None)
        marker = self.markers.next()
        t0 = perf_counter()
        try:
            raw = await self.store.get_or_lease(name, marker, self._lease_arg, self.page(key))
        except Exception as exc:
            self.meter.failed("get", name, key.family, t0, exc)
            return await self._fallback(key, loader, arrival, exc)
        if isinstance(raw, bytes) and raw[:1] != b"~":
            try:
                value = loads(raw)
            except orjson.JSONDecodeError:
                pass  # corrupt: the slow path deletes and reloads it
            else:
                self._redis_hit(key, value, len(raw), seq, t0, counts)
                self._countdown -= 1
                if self._countdown <= 0:
                    self._countdown = self.options.refresh_sample or sys.maxsize
                    return await refresh.refresh_ahead(self, key, loader, value)
                return value
        self.meter.ok("get", name, t0, False)
        if not isinstance(raw, bytes) and name in flights.active:
            # The lease is ours, but a caller here leads already (it raced us to Redis and
            # found our lease): fill, so that it finds the value instead of waiting.
            value, hit, _ = await self._fill(key, loader, marker)
        else:
            value, hit = await flights.run(
                name, key.index, arrival, lambda f: self._lead(key, loader, raw, marker, f)
            )
        if hit:
            counts[HITS] += 1
            self.meter.read(name)
        else:
            counts[MISSES] += 1
            self.meter.missed(name)
        return value

    async def cached(self, key: CacheKey) -> JSON | Missing:
        """`get_or_load`'s hit without its miss: the value when this process's tier or
        Redis holds one (counted as a hit and kept in this tier, as a hit of `get_or_load`
        is), else `MISSING`, counted nowhere: no lease taken, nothing loaded. For a
        decision with a safe default whose value the request may use again, so that it
        reads the key once (the rate limiter's look at the caller's profile). Single
        entries only (a list page is `MISSING`: its index is kept by `get_or_load`), and
        no early refresh (the next `get_or_load` hit may refresh)."""
        if not key.cacheable or key.index is not None:
            return MISSING
        name = key.key
        counts = self.counts[key.family]
        value, seq = self._from_l1(name, counts)
        if value is not MISSING:
            return value
        if not self.breaker.closed:
            return MISSING
        t0 = perf_counter()
        try:
            raw = await self.store.get(name)
        except Exception as exc:  # Redis down opens the breaker; the caller loads
            self.meter.failed("get", name, key.family, t0, exc)
            return MISSING
        if raw is None or codec.is_lease(raw):
            return MISSING
        try:
            value = codec.decode(raw)
        except codec.CorruptValue as exc:  # the caller's `get_or_load` deletes and reloads it
            self.meter.failed("get", name, key.family, t0, exc, redis=False)
            return MISSING
        self._redis_hit(key, value, len(raw), seq, t0, counts)
        return value

    def _from_l1(self, name: str, counts: Counts) -> tuple[JSON | Missing, int]:
        """This process's tier's value (a hit, counted) or `MISSING`, and the tier's
        sequence to take before the Redis read that follows a miss (`_redis_hit`)."""
        l1 = self.l1
        if l1 is None:
            return MISSING, 0
        if l1.live:
            entry = l1.get(name)
            if entry is not None:
                counts[HITS] += 1
                counts[L1_HITS] += 1
                self.meter.read(name, entry.tracked)
                if self.meter.log.enabled:
                    self.meter.log.done("get", name, True, 0.0, tier="l1")
                return entry.value, 0
        return MISSING, l1.seq

    def _redis_hit(
        self, key: CacheKey, value: JSON, size: int, seq: int, t0: float, counts: Counts
    ) -> None:
        """Count a hit from Redis and keep its value in this tier (`seq`: the tier's
        sequence before the read, so that an invalidation during it wins)."""
        name = key.key
        self.meter.ok("get", name, t0, True)
        counts[HITS] += 1
        tracked = self.meter.read(name)
        if self.l1 is not None:
            self.l1.put(name, value, key.index, size, seq, tracked)

    async def _lead(
        self, key: CacheKey, loader: Loader, raw: Raw, marker: bytes, flight: Flight
    ) -> tuple[JSON, bool, bool]:
        """Resolve a miss: fill under our lease, wait for another filler, or decode."""
        name = key.key
        deadline = 0.0
        while True:
            if not isinstance(raw, bytes):  # the lease is ours
                return await self._fill(key, loader, marker)
            if codec.is_lease(raw):
                now = monotonic()
                deadline = deadline or now + self.options.lease_max_hold + self.options.lease_ttl
                if now >= deadline:  # the holder keeps no lease this long: load ourselves
                    return await self._unleased(key, loader, flight)
                notice = await wait_for_notice(self.notices.expect(name), self.options.lease_poll)
                if notice is not None and notice[0] is Notice.FAILED:
                    raise LoadFailed(notice[1])
            else:
                try:
                    return codec.decode(raw), True, True
                except codec.CorruptValue as exc:
                    self.meter.failed("get", name, key.family, perf_counter(), exc, redis=False)
                    try:
                        await self.store.unlink(name)
                    except Exception:
                        return await self._unleased(key, loader, flight)
            t0 = perf_counter()
            try:
                raw = await self.store.get_or_lease(name, marker, self._lease_arg, self.page(key))
            except Exception as exc:
                self.meter.failed("get", name, key.family, t0, exc)
                return await self._unleased(key, loader, flight)

    async def _fill(self, key: CacheKey, loader: Loader, marker: bytes) -> tuple[JSON, bool, bool]:
        """Load under our lease, then store if it is still ours; (value, hit, valid)."""
        name = key.key
        seq = self.l1.seq if self.l1 is not None else 0
        keeper = self.keeper
        keeper.hold(name, marker)
        try:
            value, data = await self.load(key, loader)
        except asyncio.CancelledError:  # our client went away: a waiter takes over
            keeper.release(marker)
            self._spawn(self._release(name, marker, abandoned_notice(name)))
            raise
        except BaseException as exc:  # every waiter gets the error; later callers retry
            keeper.release(marker)
            await self._release(name, marker, failed_notice(name, exc))
            raise
        keeper.release(marker)
        if len(data) > self.options.max_value_bytes:  # served, never stored
            if self.meter.log.enabled:
                self.meter.log.info("cache_value_too_large", key=name, bytes=len(data))
            still_ours = await self._release(name, marker, abandoned_notice(name))
            return value, False, still_ours
        stored = await self.store_owned(key, marker, data, value is None)
        if stored and self.l1 is not None:
            self.l1.put(name, value, key.index, len(data), seq, self.meter.analytics.tracks(name))
        return value, False, stored is True

    async def store_owned(
        self, key: CacheKey, marker: bytes, data: bytes, negative: bool, *, refresh: bool = False
    ) -> bool | None:
        """Store if the key still holds `marker`: True stored, False voided, None error."""
        name = key.key
        payload = codec.pack(data, self.options.compress_min_bytes)
        ttl_ms = self.ttl(key.family, negative)
        t0 = perf_counter()
        try:
            stored = await self.store.store_if_owner(name, marker, payload, ttl_ms)
        except Exception as exc:
            self.meter.failed("set", name, key.family, t0, exc)
            return None
        self.meter.ok("set", name, t0, False, stored=stored)
        if stored:
            self.counts[key.family][SETS] += 1
            if not negative:  # an absent result's short life says nothing about the TTL
                nominal = self.ttl_ms[key.family]
                self.meter.filled(name, key.family, ttl_ms, nominal, key.index, refresh=refresh)
        return stored

    async def load(self, key: CacheKey, loader: Loader) -> tuple[JSON, bytes]:
        """Call the loader; its value as a hit would return it (JSON round trip), and the JSON."""
        self.counts[key.family][LOADS] += 1
        t0 = perf_counter()
        value = await loader()
        self.meter.loaded(key.family, perf_counter() - t0)
        data = orjson.dumps(value)
        return (loads(data) if value is not None else None), data

    async def _unleased(
        self, key: CacheKey, loader: Loader, flight: Flight
    ) -> tuple[JSON, bool, bool]:
        self.flights.loading_unleased(flight)
        return (await self.load(key, loader))[0], False, True

    async def _fallback(
        self, key: CacheKey, loader: Loader, arrival: int, error: BaseException | None
    ) -> JSON:
        """Redis unusable: the loader answers (one fresh load at a time per key here)."""
        self.counts[key.family][FALLBACKS] += 1
        self.meter.missed(key.key)
        if error is None:
            self._probe()
            if self.meter.log.enabled:
                self.meter.log.failed("get", key.key, 0.0, "circuit open")
        value, _ = await self.flights.run(
            key.key, key.index, arrival, lambda f: self._unleased(key, loader, f)
        )
        return value

    def set_ttl(self, family: str, seconds: float) -> bool:
        """The family's TTL for what is stored from now on (stored entries keep theirs);
        True if it changed. The one way to change a TTL while the engine runs."""
        ms = max(1, int(seconds * 1000))
        if family not in self.ttl_ms or self.ttl_ms[family] == ms:
            return False
        self.ttl_ms[family] = ms
        return True

    def ttl(self, family: str, negative: bool) -> int:
        """The family's TTL in ms with up to 10 % jitter below it (never above)."""
        nominal = self.ttl_ms[family]
        if negative:
            return min(self._negative_ms, nominal)
        return nominal - int(nominal * 0.1 * random.random())  # noqa: S311 - not crypto

    async def _extend(self, leases: list[tuple[str, bytes]]) -> None:
        await self.store.extend_many(leases, self._lease_ms)

    async def _release(self, name: str, marker: bytes, notice: bytes) -> bool:
        """Give up our lease; True if it was still ours (no invalidation since we took it)."""
        try:
            return await self.store.release(name, marker, notice)
        except Exception as exc:
            self.meter.failed("release", name, None, 0.0, exc)
            return False
