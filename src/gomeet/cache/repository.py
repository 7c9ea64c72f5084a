"""CacheRepository: the spec's cache API in Python names, on top of the one fill path.

Services read through `get_or_load(keys.x(...), loader)` and invalidate after commit with
`invalidate*`; `put` is write-through. The spec's `get`/`set`/`delete`/`delete_by_pattern`
and the entity-specific `get_*`/`set_*`/`invalidate_*` are here for operators, tools and
tests. Cache errors are counted and logged, never raised.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from gomeet.cache import codec, keys
from gomeet.cache.bus import CHANNEL, message
from gomeet.cache.core import JSON, CacheCore, CacheOptions, Loader
from gomeet.cache.families import CacheKey, Family
from gomeet.cache.stats import FALLBACKS, HITS, MISSES, OTHER, SETS, render, render_local

__all__ = ["JSON", "CacheOptions", "CacheRepository", "Loader"]

_ID = uuid.UUID | str


class CacheRepository(CacheCore):
    """`CacheRepository()` with no Redis is a pass-through (what `GOMEET_CACHE=off` builds)."""

    # ------------------------------------------------------------- core (spec)

    async def get(self, key: CacheKey | str) -> JSON | None:
        """The cached value, or None when absent (or Redis is unavailable)."""
        name, group, _ = _parts(key)
        if not self.enabled:
            return None
        counts = self._counts[group]
        if not self.breaker.closed:
            counts[FALLBACKS] += 1
            self._maybe_probe()
            return None
        t0 = time.perf_counter()
        try:
            async with self._slots:
                raw = await self._redis.get(name)
            value = None if raw is None or codec.is_lease(raw) else codec.decode(raw)
        except Exception as exc:
            self._failed("get", name, t0, exc, group)
            counts[FALLBACKS] += 1
            return None
        self.breaker.failures = 0
        hit = raw is not None and not codec.is_lease(raw)
        counts[HITS if hit else MISSES] += 1
        seconds = time.perf_counter() - t0
        self._h_get.observe(seconds)
        if self._log.enabled:
            self._log.done("get", name, hit, seconds)
        return value

    async def set(self, key: CacheKey | str, value: JSON, ttl: float | None = None) -> bool:
        """Store `value` (TTL: `ttl` seconds, or the family's with jitter); True if stored.

        Overwrites any lease, so a fill in flight cannot replace this newer value. If Redis
        cannot be reached the key is invalidated once it can, rather than left stale.
        """
        name, group, index = _parts(key)
        if not self.enabled:
            return False
        self._forget([name], [])
        if ttl is not None:
            ttl_ms = max(1, int(ttl * 1000))
        elif group == OTHER:
            raise ValueError(f"set({name!r}): a key outside the cache families needs a ttl")
        else:
            ttl_ms = self._ttl(group, value is None)
        if not self.breaker.closed:
            self._defer([name], [])
            self._maybe_probe()
            return False
        data = codec.encode(value, self.options.compress_min_bytes)
        steps: list[list[tuple[str, tuple[Any, ...], dict[str, Any]]]] = [
            [("set", (name, data), {"px": ttl_ms})]
        ]
        if index is not None:
            index_ms = self._ttl_ms[group] + self._lease_ms
            steps.append([("sadd", (index, name), {}), ("pexpire", (index, index_ms), {})])
        steps.append([("publish", (CHANNEL, message(self.origin, [name], [], False)), {})])
        t0 = time.perf_counter()
        try:
            async with self._slots:
                await self._run_steps(steps)
        except Exception as exc:
            self._failed("set", name, t0, exc, group)
            self._defer([name], [])
            return False
        self.breaker.failures = 0
        self._counts[group][SETS] += 1
        seconds = time.perf_counter() - t0
        self._h_set.observe(seconds)
        if self._log.enabled:
            self._log.done("set", name, False, seconds)
        return True

    async def delete(self, key: CacheKey | str) -> bool:
        """Delete one key (voiding any fill in flight); True if it existed."""
        return await self.invalidate_names([_parts(key)[0]]) > 0

    async def delete_by_pattern(self, pattern: str) -> int:
        """Delete every key matching a glob pattern (SCAN + UNLINK in batches).

        Escape literal parts with `keys.escape_glob`. Returns the number of keys deleted.
        """
        return await self.delete_pattern(pattern)

    async def flush(self, family: Family | None = None) -> int:
        """Delete every cached key of one family (list-page indexes included), or of all."""
        families = [family] if family is not None else list(Family)
        deleted = 0
        for f in families:
            for pattern in keys.family_patterns(f):
                deleted += await self.delete_pattern(pattern)
        return deleted

    async def inspect(self, name: str) -> dict[str, Any]:
        """An entry as operators see it (`gomeet cache get KEY`): decoded value, kind, TTL."""
        if not self.enabled:
            return {"key": name, "exists": False, "error": "cache disabled"}
        try:
            async with self._slots:
                (raw,), (pttl,) = await self._run_steps(
                    [[("get", (name,), {})], [("pttl", (name,), {})]]
                )
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

    # ---------------------------------------------------------- read-through

    async def put(self, key: CacheKey, value: JSON) -> None:
        """Write-through after a committed change (feature flags)."""
        await self.set(key, value)

    # ---------------------------------------------------------- invalidation

    async def invalidate(self, *cache_keys: CacheKey) -> None:
        """Delete these keys now and void any fill in flight for them."""
        await self.invalidate_names([k.key for k in cache_keys])

    async def invalidate_many(
        self,
        cache_keys: Iterable[CacheKey] = (),
        owner_lists: Iterable[tuple[Family, uuid.UUID]] = (),
    ) -> None:
        """Everything one write invalidates, at once: these keys and every list page of
        these (family, owner) pairs. Two round trips (the indexes' members, then one
        SREM/UNLINK/PUBLISH pipeline) however many keys and owners; one without lists."""
        names = list(dict.fromkeys(k.key for k in cache_keys))
        indexes = list(dict.fromkeys(keys.index_key(f, owner) for f, owner in owner_lists))
        await self.invalidate_names(names, indexes)

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
        """`cache:stats` summed over every instance (this one flushed first), with ratios.

        When Redis cannot be read, this instance's own counts (`source: local`).
        """
        out: dict[str, Any]
        if self.enabled and self.breaker.closed:
            await self.flush_stats()
            try:
                async with self._slots:
                    raw = await self._redis.hgetall(keys.STATS_KEY)
                out = render(raw)
                out["source"] = "redis"
            except Exception as exc:
                self._failed("get", keys.STATS_KEY, time.perf_counter(), exc, None)
                out = render_local(self.stats)
                out["source"] = "local"
        else:
            out = render_local(self.stats)
            out["source"] = "local"
        out["enabled"] = self.enabled
        out["circuit"] = self.breaker.state.value
        out["pendingInvalidations"] = self.pending_invalidations
        return out

    async def health_check(self) -> dict[str, Any]:
        """Connectivity and a write/read/delete round trip on a key unique to this probe.

        Runs even when the breaker is open (it is a probe). `status`: ok, down or disabled.
        """
        base: dict[str, Any] = {
            "circuit": self.breaker.state.value,
            "pendingInvalidations": self.pending_invalidations,
            "l1": {
                "enabled": self.l1 is not None,
                "live": self._l1_live,
                "items": len(self.l1) if self.l1 is not None else 0,
            },
        }
        if not self.enabled:
            return {"status": "disabled", "latencyMs": None, "error": None, **base}
        name = f"cache:health:{uuid.uuid4().hex}"
        token = uuid.uuid4().hex.encode()
        error: str | None = None
        written = False
        t0 = time.perf_counter()
        try:
            async with self._slots:
                (ok,), (got,), (removed,), (left,) = await self._run_steps(
                    [
                        [("set", (name, token), {"px": 10_000})],
                        [("get", (name,), {})],
                        [("unlink", (name,), {})],
                        [("exists", (name,), {})],
                    ]
                )
            written = True
            if not ok or got != token:
                error = "read back a different value than written"
            elif removed != 1 or left:
                error = "the probe key could not be deleted"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - t0
        if error and written:
            await self._try_unlink(name)
        self.stats.ops["health_check"].observe(seconds)
        if error:
            self._log.failed("health_check", name, seconds, error)
        elif self._log.enabled:
            self._log.done("health_check", name, True, seconds)
        return {
            "status": "down" if error else "ok",
            "latencyMs": round(seconds * 1000, 3),
            "error": error,
            **base,
        }


def _parts(key: CacheKey | str) -> tuple[str, str, str | None]:
    """(redis key, stats group, owner index) of a CacheKey or a raw key name."""
    if isinstance(key, CacheKey):
        return key.key, key.family, key.index
    family = keys.family_of(key)
    return key, family.value if family is not None else OTHER, None
