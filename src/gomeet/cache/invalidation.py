"""The invalidation path: forget locally, delete in Redis, tell the other instances.

`invalidate(names, indexes)`: drop the keys from the in-process tier and void the loads in
flight (so later callers reload) → one round trip that deletes the keys and every page of
each owner index (which also deletes any lease: a fill that read the database before the
commit can never store) and publishes them for the other instances' in-process tiers →
forget locally once more, so that nothing a reader here put back from Redis between the
first forget and the delete survives. An invalidation that cannot reach Redis opens the
breaker (Redis may still hold the pre-write value) and is kept for replay, unless its
caller keeps it durably itself (the outbox).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from time import perf_counter

from gomeet.cache import keys
from gomeet.cache.breaker import CircuitBreaker
from gomeet.cache.bus import message
from gomeet.cache.deferral import Deferred
from gomeet.cache.families import Family
from gomeet.cache.flight import Flights
from gomeet.cache.local import LocalTier
from gomeet.cache.meter import Meter
from gomeet.cache.recent import Recent
from gomeet.cache.stats import DELETES, OTHER, SETS
from gomeet.cache.store import INVALIDATE_CHANNEL, RedisStore


class Invalidator:
    def __init__(
        self,
        store: RedisStore,
        meter: Meter,
        breaker: CircuitBreaker,
        flights: Flights,
        l1: LocalTier | None,
        origin: str,
        deferred: Deferred,
        probe: Callable[[], None],
        trip: Callable[[str], None],
        recent: Recent | None = None,
    ) -> None:
        self.store = store
        self.meter = meter
        self.breaker = breaker
        self.flights = flights
        self.l1 = l1
        self.origin = origin
        self.deferred = deferred
        self._probe = probe
        self._trip = trip
        self.recent = recent  # Sentinel: what was sent, to send again after a failover
        self.replaying = 0  # replays in flight (their invalidations are still pending)

    async def invalidate(
        self, names: Sequence[str], indexes: Sequence[str] = (), *, keep: bool = True
    ) -> int | None:
        """Delete keys and every page of the owner indexes: the number of keys deleted, or
        None if it did not reach Redis.

        `keep=False`: the caller holds the invalidation durably and retries it (the
        outbox); otherwise a failed one is kept here and replayed.
        """
        names, indexes = list(dict.fromkeys(names)), list(dict.fromkeys(indexes))
        if not names and not indexes:
            return 0
        self.forget(names, indexes)
        label = ",".join(map(keys.display_key, [*names, *indexes]))
        if not self.breaker.delivering:
            if keep:
                self.deferred.add(names, indexes)
            self._probe()
            if self.meter.log.enabled:
                self.meter.log.failed("delete", label, 0.0, "circuit open: kept for replay")
            return None
        if self.recent is not None:
            self.recent.note(names, indexes)
        t0 = perf_counter()
        try:
            unlinked, pages = await self.store.invalidate(
                names, indexes, message(self.origin, names, indexes, False)
            )
        except Exception as exc:
            self.meter.failed("delete", label, None, t0, exc)
            if keep:
                self.deferred.add(names, indexes)
            self._trip("invalidation failed")
            return None
        self.forget(names, indexes)
        self.meter.gone(names, indexes)
        deleted = self._count(names, unlinked, indexes, pages)
        self.meter.ok("delete", label, t0, deleted > 0, deleted=deleted)
        return deleted

    def _count(
        self, names: Sequence[str], unlinked: list[int], indexes: Sequence[str], pages: list[int]
    ) -> int:
        counts = self.meter.counts
        for name, result in zip(names, unlinked, strict=True):
            if result:
                family = keys.family_of(name)
                counts[family.value if family else OTHER][DELETES] += 1
        for index, n in zip(indexes, pages, strict=True):
            if n:
                family = keys.family_of_index(index)
                counts[family.value if family else OTHER][DELETES] += n
        return sum(unlinked) + sum(pages)

    async def delete_pattern(self, pattern: str) -> int:
        """SCAN MATCH + UNLINK in batches; every in-process tier is emptied."""
        self.forget_all()
        if not self.breaker.closed:
            self.deferred.add_pattern(pattern)
            self._probe()
            return 0
        if self.recent is not None:
            self.recent.note(patterns=[pattern])
        t0 = perf_counter()
        try:
            deleted = await self._scan_unlink(pattern)
        except Exception as exc:
            self.meter.failed("delete_pattern", pattern, None, t0, exc)
            self.deferred.add_pattern(pattern)
            self._trip("invalidation failed")
            return 0
        self.meter.ok("delete", pattern, t0, deleted > 0, deleted=deleted)
        return deleted

    async def _scan_unlink(self, pattern: str) -> int:
        deleted = await self.store.scan_unlink(pattern)
        await self.store.publish(INVALIDATE_CHANNEL, message(self.origin, (), (), True))
        self.forget_all()
        self.meter.gone(deleted, [], counted=False)
        counts = self.meter.counts
        for name in deleted:
            family = keys.family_of(name) or keys.family_of_index(name)
            counts[family.value if family else OTHER][DELETES] += 1
        return len(deleted)

    async def set_value(
        self,
        name: str,
        group: str,
        data: bytes,
        ttl_ms: int,
        page: tuple[str, int, int] | None,
        nominal_ttls: dict[str, int],
    ) -> bool:
        """Write-through (overwriting any lease, so a fill in flight cannot replace this
        newer value). If Redis cannot be reached the key is invalidated once it can."""
        self.forget([name], [])
        if not self.breaker.closed:
            self.deferred.add([name])
            self._probe()
            return False
        if self.recent is not None:
            self.recent.note([name])
        t0 = perf_counter()
        try:
            await self.store.set_value(
                name, data, ttl_ms, page, message(self.origin, [name], [], False)
            )
        except Exception as exc:
            self.meter.failed("set", name, group, t0, exc)
            self.deferred.add([name])
            return False
        self.forget([name], [])
        self.meter.counts[group][SETS] += 1
        self.meter.ok("set", name, t0)
        if group in nominal_ttls:
            index = page[0] if page is not None else None
            self.meter.filled(name, group, ttl_ms, nominal_ttls[group], index)
        return True

    async def replay(self) -> None:
        """Apply what was kept while Redis was unreachable; raise if it still is."""
        kept = self.deferred.take()
        if not kept:
            return
        if kept.overflow:
            kept.patterns = {p for family in Family for p in keys.family_patterns(family)}
            kept.overflow = False
        if self.recent is not None:
            self.recent.note(kept.names, kept.indexes, kept.patterns)
        self.replaying += 1
        try:
            if kept.names or kept.indexes:
                names, indexes = sorted(kept.names), sorted(kept.indexes)
                await self.store.invalidate(
                    names, indexes, message(self.origin, names, indexes, False)
                )
                kept.names, kept.indexes = set(), set()
                self.meter.gone(names, indexes)
            while kept.patterns:
                await self._scan_unlink(next(iter(kept.patterns)))
                kept.patterns.pop()
        except BaseException:
            self.deferred.give_back(kept)
            raise
        finally:
            self.replaying -= 1
        self.forget_all()
        self.meter.log.event("cache_invalidations_replayed")

    def forget(self, names: Sequence[str], indexes: Sequence[str]) -> None:
        if self.l1 is not None:
            self.l1.drop(names, indexes)
        self.flights.forget(names, indexes)

    def forget_all(self) -> None:
        if self.l1 is not None:
            self.l1.clear()
        self.flights.forget_all()
