"""Breaker supervision and the cache's background upkeep.

Every Redis call passes the circuit breaker (`breaker.py`): consecutive failures, or one
failed invalidation, open it; while open, reads go to the loader and nothing waits on Redis.
After the cool-down one probe runs: `PING`, then the invalidations kept in memory are
replayed and every recovery gate (the outbox's invalidations this instance could not
deliver) is settled, round after round until nothing is pending; only then, with no await
between the last check and the switch, does the breaker close. So no invalidation deferred
while the probe was replaying is left behind, and no read is served from Redis before what
this instance owes it has been applied.

The upkeep loop flushes the stats every `flush_interval`, replays what was kept if the
breaker is closed, then runs the other upkeep (the analytics' flush, the applied TTLs), and
runs the probe when one is due.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from time import perf_counter
from typing import Any, Protocol

from gomeet.cache import keys
from gomeet.cache.breaker import CircuitBreaker
from gomeet.cache.invalidation import Invalidator
from gomeet.cache.local import LocalTier
from gomeet.cache.meter import Meter
from gomeet.cache.options import CacheOptions
from gomeet.cache.stats import LAST_UPDATED, OTHER, now_iso
from gomeet.cache.store import RedisStore

_SETTLE_ROUNDS = 10


class RecoveryGate(Protocol):
    """Invalidations held outside this package (the outbox) that must reach Redis before
    this instance reads it again."""

    @property
    def pending(self) -> int: ...

    async def settle(self) -> None:
        """Apply them now; raise if Redis cannot be reached."""


class StillPending(Exception):
    """Invalidations kept coming in faster than the probe could apply them."""


class Supervisor:
    def __init__(
        self,
        options: CacheOptions,
        store: RedisStore,
        meter: Meter,
        breaker: CircuitBreaker,
        invalidator: Invalidator,
        l1: LocalTier | None,
        spawn: Callable[[Coroutine[Any, Any, Any]], Any],
    ) -> None:
        self.options = options
        self.store = store
        self.meter = meter
        self.breaker = breaker
        self.invalidator = invalidator
        self.l1 = l1
        self.gates: list[RecoveryGate] = []
        # More upkeep after each flush (the analytics); one failing does not stop the others.
        self.upkeep: list[Callable[[], Awaitable[None]]] = []
        self._spawn = spawn
        self._stopping = asyncio.Event()
        self._flush_lock = asyncio.Lock()

    @property
    def pending(self) -> int:
        """Invalidations not yet delivered: kept in memory, or held by a gate."""
        invalidator = self.invalidator
        kept = len(invalidator.deferred) + invalidator.replaying
        return kept + sum(gate.pending for gate in self.gates)

    # ----------------------------------------------------------------------- breaker

    def opened(self, reason: str) -> None:
        """The breaker just opened: while open, this tier could miss invalidations."""
        self.meter.log.event("cache_circuit_opened", error=reason)
        if self.l1 is not None:
            self.l1.clear()

    def trip(self, reason: str) -> None:
        """An invalidation did not reach Redis: Redis may still hold the value from before
        the write, so stop reading it until the probe has applied what is pending."""
        if self.breaker.closed:
            self.breaker.trip()
            self.opened(reason)

    def master_changed(self, reason: str, hold: float) -> None:
        """A new Redis master: what this instance sent the old one may be lost there. Stop
        reading for `hold` s (the replay, and the other instances', run meanwhile)."""
        self.breaker.hold(hold)
        self.opened(reason)

    def maybe_probe(self) -> None:
        if self.breaker.probe_due():
            self._spawn(self.probe())

    async def probe(self) -> None:
        """Half-open: PING, apply everything pending, then close; or open again. A master
        change during the probe leaves the breaker as the change set it (held open)."""
        epoch = self.store.epoch
        try:
            await self.store.ping()
            for _ in range(_SETTLE_ROUNDS):
                await self.invalidator.replay()
                for gate in self.gates:
                    await gate.settle()
                if not self.pending:  # nothing came in meanwhile: close now, no await
                    break
            else:
                raise StillPending(f"{self.pending} invalidations still pending")
        except Exception as exc:
            if self.store.epoch == epoch:
                self.breaker.probe_failed()
            self.meter.failed("probe", "", OTHER, 0.0, exc, redis=False)
            return
        if self.store.epoch != epoch:
            return
        if self.l1 is not None:
            self.l1.clear()  # anything missed while open is gone from the tier
        self.breaker.probe_succeeded()
        self.meter.log.event("cache_circuit_closed")

    # ------------------------------------------------------------------------ upkeep

    async def run(self) -> None:
        self._stopping.clear()
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.options.flush_interval)
            if self._stopping.is_set():
                return
            try:
                if self.breaker.closed:
                    if self.invalidator.deferred:
                        await self.invalidator.replay()
                    await self.flush_stats()
                    await self.run_upkeep()
                elif self.breaker.probe_due():
                    await self.probe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.meter.failed("maintain", "", OTHER, perf_counter(), exc)

    async def run_upkeep(self) -> None:
        for task in self.upkeep:
            t0 = perf_counter()
            try:
                await task()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.meter.failed("analytics", "", OTHER, t0, exc)

    def stop(self) -> None:
        self._stopping.set()  # the loop ends between flushes, not inside one

    async def flush_stats(self, *, force: bool = False) -> bool:
        """Send the counts not yet flushed (HINCRBY in one MULTI/EXEC); keep them on failure."""
        async with self._flush_lock:  # two flushes at once would send the same deltas
            stats = self.meter.stats
            deltas, snapshot = stats.pending()
            if not deltas:
                return True
            if not self.breaker.closed and not force:
                return False
            t0 = perf_counter()
            try:
                await self.store.hincrby_all(keys.STATS_KEY, deltas, (LAST_UPDATED, now_iso()))
            except Exception as exc:
                self.meter.failed("flush_stats", keys.STATS_KEY, None, t0, exc)
                return False
            stats.mark_flushed(snapshot)
            stats.ops["flush_stats"].observe(perf_counter() - t0)
            return True
