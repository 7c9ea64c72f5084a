"""CacheRepository: the spec's cache API in Python names, a façade over the engine.

Services read through `get_or_load(keys.x(...), loader)`; their writes' invalidations come
from the app's change records (the outbox), which call `invalidate_durable`. The spec's
`get`/`set`/`delete`/`delete_by_pattern` and the entity-specific `get_*`/`set_*`/
`invalidate_*` are here for operators, tools and tests. Cache errors are counted and
logged, never raised. `CacheRepository()` without an engine is a pass-through (what
`GOMEET_CACHE=off` builds).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from gomeet.cache import codec, keys, monitor
from gomeet.cache.breaker import CircuitBreaker
from gomeet.cache.drain import DurableQueue, OutboxDrain
from gomeet.cache.engine import CacheEngine
from gomeet.cache.families import CacheKey, Family
from gomeet.cache.fill import JSON, MISSING, Loader, Missing
from gomeet.cache.insights import read_raw
from gomeet.cache.local import LocalTier
from gomeet.cache.options import CacheOptions
from gomeet.cache.stats import FALLBACKS, HITS, MISSES, OTHER, CacheStats

__all__ = ["JSON", "MISSING", "CacheOptions", "CacheRepository", "Loader", "Missing"]

_ID = uuid.UUID | str


class CacheRepository:
    def __init__(self, engine: CacheEngine | None = None) -> None:
        self.engine = engine
        self.enabled = engine is not None
        self.stats = engine.stats if engine is not None else CacheStats()
        self.breaker = engine.breaker if engine is not None else CircuitBreaker()
        self.options = engine.options if engine is not None else CacheOptions()
        self.l1: LocalTier | None = engine.l1 if engine is not None else None
        # The value under a key, or its loader's result, cached (see `fill.py`): the
        # engine's own method, the hot path without a façade hop.
        self.get_or_load: Callable[[CacheKey, Loader], Awaitable[JSON | None]] = (
            engine.get_or_load if engine is not None else _load
        )

    @property
    def pending_invalidations(self) -> int:
        return self.engine.pending if self.engine is not None else 0

    async def start(self) -> None:
        if self.engine is not None:
            await self.engine.start()

    async def aclose(self) -> None:
        if self.engine is not None:
            await self.engine.aclose()

    async def flush_stats(self, *, force: bool = False) -> bool:
        if self.engine is None:
            return False
        return await self.engine.supervisor.flush_stats(force=force)

    def attach_outbox(self, queue: DurableQueue, interval: float) -> OutboxDrain | None:
        return self.engine.attach_outbox(queue, interval) if self.engine is not None else None

    # ------------------------------------------------------------- core (spec)

    async def get(self, key: CacheKey | str) -> JSON | None:
        """The cached value, or None when absent (or Redis is unavailable)."""
        name, group, _ = _parts(key)
        engine = self.engine
        if engine is None:
            return None
        counts = engine.meter.counts[group]
        if not engine.breaker.closed:
            counts[FALLBACKS] += 1
            engine.supervisor.maybe_probe()
            return None
        t0 = time.perf_counter()
        try:
            raw = await engine.store.get(name)
            value = None if raw is None or codec.is_lease(raw) else codec.decode(raw)
        except Exception as exc:
            engine.meter.failed("get", name, group, t0, exc)
            counts[FALLBACKS] += 1
            return None
        hit = raw is not None and not codec.is_lease(raw)
        counts[HITS if hit else MISSES] += 1
        engine.meter.ok("get", name, t0, hit)
        return value

    async def cached(self, key: CacheKey) -> JSON | Missing:
        """The value when cached (this process's tier or Redis), counted as a hit; else
        `MISSING`, counted nowhere, nothing loaded (`FillPath.cached`): a look for a
        decision that has a safe default when the value is not cached, whose value the
        request can use again instead of reading the key twice."""
        if self.engine is None:
            return MISSING
        return await self.engine.fill.cached(key)

    async def set(self, key: CacheKey | str, value: JSON, ttl: float | None = None) -> bool:
        """Store `value` (TTL: `ttl` seconds, or the family's with jitter); True if stored.

        Overwrites any lease, so a fill in flight cannot replace this newer value. If Redis
        cannot be reached the key is invalidated once it can, rather than left stale.
        """
        name, group, _ = _parts(key)
        engine = self.engine
        if engine is None:
            return False
        if ttl is not None:
            ttl_ms = max(1, int(ttl * 1000))
        elif group == OTHER:
            raise ValueError(f"set({name!r}): a key outside the cache families needs a ttl")
        else:
            ttl_ms = engine.fill.ttl(group, value is None)
        data = codec.encode(value, self.options.compress_min_bytes)
        page = engine.fill.page(key) if isinstance(key, CacheKey) else None
        return await engine.invalidator.set_value(
            name, group, data, ttl_ms, page, engine.fill.ttl_ms
        )

    async def delete(self, key: CacheKey | str) -> bool:
        """Delete one key (voiding any fill in flight); True if it existed."""
        return await self.invalidate_names([_parts(key)[0]]) > 0

    async def delete_by_pattern(self, pattern: str) -> int:
        """Delete every key matching a glob pattern (SCAN + UNLINK in batches).

        Escape literal parts with `keys.escape_glob`. Returns the number of keys deleted.
        """
        if self.engine is None:
            return 0
        return await self.engine.invalidator.delete_pattern(pattern)

    async def flush(self, family: Family | None = None) -> int:
        """Delete every cached key of one family (list-page indexes included), or of all."""
        families = [family] if family is not None else list(Family)
        deleted = 0
        for f in families:
            for pattern in keys.family_patterns(f):
                deleted += await self.delete_by_pattern(pattern)
        return deleted

    async def inspect(self, name: str) -> dict[str, Any]:
        """An entry as operators see it (`gomeet cache get KEY`): decoded value, kind, TTL."""
        if self.engine is None:
            return {"key": name, "exists": False, "error": "cache disabled"}
        try:
            raw, pttl = await self.engine.store.entry(name)
        except Exception as exc:
            return {"key": name, "exists": False, "error": f"{type(exc).__name__}: {exc}"}
        if raw is None:
            return {"key": name, "exists": False, "error": None}
        kind = codec.describe(raw)
        try:
            value = None if kind == "lease" else codec.decode(raw)
        except codec.CorruptValue as exc:
            return {"key": name, "exists": True, "kind": "corrupt", "error": str(exc)}
        return {
            "key": name,
            "exists": True,
            "kind": kind,
            "ttlMs": pttl if pttl >= 0 else None,
            "bytes": len(raw),
            "value": value,
            "error": None,
        }

    async def put(self, key: CacheKey, value: JSON) -> None:
        """Write-through of a committed value."""
        await self.set(key, value)

    # ---------------------------------------------------------- invalidation

    async def invalidate_names(self, names: Iterable[str], indexes: Iterable[str] = ()) -> int:
        """Delete keys and every page of the given owner indexes; void fills in flight.
        The number deleted; a failed one is kept in memory and replayed."""
        if self.engine is None:
            return 0
        return await self.engine.invalidate(list(names), list(indexes))

    async def invalidate_durable(self, names: Sequence[str], indexes: Sequence[str]) -> bool:
        """The same for a caller that keeps it durably (the outbox) until this returns True."""
        if self.engine is None:
            return True
        return await self.engine.invalidate_durable(names, indexes)

    async def invalidate(self, *cache_keys: CacheKey) -> None:
        """Delete these keys now and void any fill in flight for them."""
        await self.invalidate_names([k.key for k in cache_keys])

    async def invalidate_many(
        self,
        cache_keys: Iterable[CacheKey] = (),
        owner_lists: Iterable[tuple[Family, uuid.UUID]] = (),
    ) -> None:
        """These keys and every list page of these (family, owner) pairs, in one round trip."""
        names = [k.key for k in cache_keys]
        await self.invalidate_names(names, [keys.index_key(f, o) for f, o in owner_lists])

    async def invalidate_owner_lists(self, family: Family, owner_id: uuid.UUID) -> None:
        """Delete every list page of one owner in one family (via its index, no SCAN)."""
        await self.invalidate_names([], [keys.index_key(family, owner_id)])

    async def invalidate_host_lists(self, host_id: uuid.UUID) -> None:
        await self.invalidate_names(
            [], [keys.index_key(family, host_id) for family in keys.HOST_LIST_FAMILIES]
        )

    async def invalidate_joined_lists(self, user_id: uuid.UUID) -> None:
        await self.invalidate_owner_lists(Family.MEETING_JOINED, user_id)

    async def invalidate_meeting_related(self, meeting_id: uuid.UUID) -> None:
        """The meeting's details and participant list."""
        await self.invalidate(keys.meeting_details(meeting_id), keys.participant_list(meeting_id))

    async def invalidate_user_related(self, user_id: uuid.UUID) -> None:
        """The user's profile and every list page they own (hosted and joined)."""
        indexes = [keys.index_key(family, user_id) for family in keys.LIST_FAMILIES]
        await self.invalidate_names([keys.user_profile(user_id).key], indexes)

    async def invalidate_user_profile(self, user_id: _ID) -> None:
        await self.invalidate(keys.user_profile(user_id))

    async def invalidate_meeting_details(self, meeting_id: _ID) -> None:
        await self.invalidate(keys.meeting_details(meeting_id))

    async def invalidate_participant_list(self, meeting_id: _ID) -> None:
        await self.invalidate(keys.participant_list(meeting_id))

    async def invalidate_feature_flag(self, name: str) -> None:
        await self.invalidate(keys.feature_flag(name))

    async def invalidate_public_user(self, session_id: str) -> None:
        await self.invalidate(keys.public_user(session_id))

    # ------------------------------------------------------- entity-specific

    async def get_user_profile(self, user_id: _ID) -> JSON | None:
        return await self.get(keys.user_profile(user_id))

    async def set_user_profile(self, user_id: _ID, data: JSON) -> None:
        if isinstance(data, dict) and {"passwordHash", "password_hash"} & data.keys():
            raise ValueError("a password hash is never cached")
        await self.set(keys.user_profile(user_id), data)

    async def get_meeting_details(self, meeting_id: _ID) -> JSON | None:
        return await self.get(keys.meeting_details(meeting_id))

    async def set_meeting_details(self, meeting_id: _ID, data: JSON) -> None:
        await self.set(keys.meeting_details(meeting_id), data)

    async def get_participant_list(self, meeting_id: _ID) -> JSON | None:
        return await self.get(keys.participant_list(meeting_id))

    async def set_participant_list(self, meeting_id: _ID, data: JSON) -> None:
        await self.set(keys.participant_list(meeting_id), data)

    async def get_feature_flag(self, name: str) -> JSON | None:
        return await self.get(keys.feature_flag(name))

    async def set_feature_flag(self, name: str, data: JSON) -> None:
        await self.set(keys.feature_flag(name), data)

    async def get_public_user(self, session_id: str) -> JSON | None:
        return await self.get(keys.public_user(session_id))

    async def set_public_user(self, session_id: str, data: JSON) -> None:
        await self.set(keys.public_user(session_id), data)

    async def get_meeting_list(
        self, host_id: _ID, page: int, limit: int, search: str | None
    ) -> JSON | None:
        return await self.get(keys.meeting_list(host_id, page, limit, search))

    async def set_meeting_list(
        self, host_id: _ID, page: int, limit: int, search: str | None, data: JSON
    ) -> None:
        await self.set(keys.meeting_list(host_id, page, limit, search), data)

    async def get_meeting_joined(self, user_id: _ID, page: int, limit: int) -> JSON | None:
        return await self.get(keys.meeting_joined(user_id, page, limit))

    async def set_meeting_joined(self, user_id: _ID, page: int, limit: int, data: JSON) -> None:
        await self.set(keys.meeting_joined(user_id, page, limit), data)

    async def get_meeting_upcoming(self, host_id: _ID, limit: int) -> JSON | None:
        return await self.get(keys.meeting_upcoming(host_id, limit))

    async def set_meeting_upcoming(self, host_id: _ID, limit: int, data: JSON) -> None:
        await self.set(keys.meeting_upcoming(host_id, limit), data)

    async def get_meeting_past(self, host_id: _ID, page: int, limit: int) -> JSON | None:
        return await self.get(keys.meeting_past(host_id, page, limit))

    async def set_meeting_past(self, host_id: _ID, page: int, limit: int, data: JSON) -> None:
        await self.set(keys.meeting_past(host_id, page, limit), data)

    # ------------------------------------------------------------ monitoring

    async def get_cache_stats(self) -> dict[str, Any]:
        """`cache:stats` summed over every instance (this one flushed first), with ratios
        and the analytics (`monitor.py`); this instance's own counts when Redis cannot be
        read (`source: local`)."""
        return await monitor.cache_stats(self)

    async def get_dashboard(self) -> dict[str, Any]:
        """The stats, the time series for charts and every instance's state."""
        return await monitor.dashboard(self)

    # ------------------------------------------------------------- TTL advice

    async def apply_ttl(self, family: Family, seconds: float | None, by: str) -> dict[str, Any]:
        """Apply a family's TTL advice (or `seconds`, within its bounds) on every instance;
        the decision record. Raises `TtlOutOfBounds`, or RuntimeError with the cache off."""
        engine = self._running()
        reason = "set by an operator"
        if seconds is None:
            advice = (await engine.advices())[family.value]
            seconds, reason = advice.recommended, advice.reason
        return await engine.tuning.apply(family.value, seconds, by, reason)

    async def revert_ttl(self, family: Family, by: str) -> dict[str, Any]:
        """Back to the configured TTL on every instance (the auto-tuner then leaves it)."""
        return await self._running().tuning.revert(family.value, by)

    def _running(self) -> CacheEngine:
        if self.engine is None:
            raise RuntimeError("the cache is off")
        return self.engine

    async def hot_key_names(self, limit: int) -> list[str]:
        """The hottest keys as stored (unmasked: for warming, never for display)."""
        if self.engine is None:
            return []
        raw = await read_raw(self.engine.store, hot=limit, slots=0)
        return [name for name, _ in raw["hot"]]

    async def health_check(self) -> dict[str, Any]:
        """Connectivity and a write/read/delete round trip on a key unique to this probe.

        Runs even when the breaker is open (it is a probe). `status`: ok, down or disabled.
        """
        return await monitor.health_check(self)


async def _load(_: CacheKey, loader: Loader) -> JSON | None:
    return await loader()


def _parts(key: CacheKey | str) -> tuple[str, str, str | None]:
    """(redis key, stats group, owner index) of a CacheKey or a raw key name."""
    if isinstance(key, CacheKey):
        return key.key, key.family, key.index
    family = keys.family_of(key)
    return key, family.value if family is not None else OTHER, None
