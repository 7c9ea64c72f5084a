"""The cache engine: the mechanisms of this package put together, and their lifecycle.

| mechanism | module |
| --- | --- |
| the fill path (`get_or_load`) | `fill.py` |
| single-flight | `flight.py` |
| leases: markers, keep-alive, waiters' wake-ups | `leases.py` |
| the Redis store and its scripts | `store.py`, `scripts.py` |
| invalidation | `invalidation.py` |
| deferral and replay | `deferral.py` |
| the outbox drain | `drain.py` |
| breaker supervision, upkeep | `supervisor.py`, `breaker.py` |
| refresh-ahead | `refresh.py` |
| the in-process tier and its bus | `local.py`, `bus.py` |
| a Sentinel failover: replaying what the old master may have lost | `recent.py` |
| timing, stats, the op log, breaker bookkeeping | `meter.py`, `stats.py`, `oplog.py` |
| analytics: recording, merging in Redis, figures | `analytics*.py`, `insights.py`, `figures.py` |
| TTL advice and applied TTLs | `advice.py`, `tuning.py` |

It takes plain options and a Redis client; it knows keys and JSON, nothing of the app.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Coroutine, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from gomeet.cache.advice import Advice
from gomeet.cache.analytics import Recorder
from gomeet.cache.breaker import CircuitBreaker
from gomeet.cache.bus import Bus
from gomeet.cache.deferral import Deferred
from gomeet.cache.drain import DurableQueue, OutboxDrain
from gomeet.cache.figures import family_figures, now_s
from gomeet.cache.fill import FillPath
from gomeet.cache.insights import Insights, read_raw
from gomeet.cache.invalidation import Invalidator
from gomeet.cache.local import LocalTier
from gomeet.cache.meter import Meter
from gomeet.cache.oplog import OpLog
from gomeet.cache.options import CacheOptions
from gomeet.cache.recent import Recent
from gomeet.cache.stats import CacheStats, now_iso, render_local
from gomeet.cache.store import RedisStore
from gomeet.cache.supervisor import Supervisor
from gomeet.cache.tuning import Tuning
from gomeet.redis_sentinel import Address, FollowingSentinelPool


class CacheEngine:
    def __init__(
        self, redis: Redis | RedisCluster, options: CacheOptions, oplog: OpLog | None = None
    ) -> None:
        self.options = options
        self.origin = uuid.uuid4().hex
        self.stats = CacheStats()
        self.breaker = CircuitBreaker(
            options.breaker_threshold, options.breaker_cooldown, options.breaker_max_cooldown
        )
        self.store = RedisStore(redis, options.redis_slots)
        self.l1 = (
            LocalTier(options.l1_max_items, options.l1_max_bytes, options.l1_ttl)
            if options.l1
            else None
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        pool = getattr(redis, "connection_pool", None)
        self.sentinel = pool if isinstance(pool, FollowingSentinelPool) else None
        recent = Recent(options.failover_window, options.pending_max) if self.sentinel else None
        limit = options.analytics_max_events
        self.recorder = Recorder(
            options.ttls, hot_sample=options.hot_sample, life_sample=options.life_sample,
            max_hot=limit, max_reads=2 * limit, max_events=limit,
        )  # fmt: skip
        self.meter = Meter(self.stats, oplog or OpLog(), self.breaker, self._opened, self.recorder)
        self.fill = FillPath(
            options, self.store, self.meter, self.breaker, self.l1, self._probe, self.spawn
        )
        self.get_or_load = self.fill.get_or_load
        self.invalidator = Invalidator(
            self.store, self.meter, self.breaker, self.fill.flights, self.l1, self.origin,
            Deferred(options.pending_max), self._probe, self._trip, recent,
        )  # fmt: skip
        self.supervisor = Supervisor(
            options, self.store, self.meter, self.breaker, self.invalidator, self.l1, self.spawn
        )
        self.insights = Insights(
            self.store, self.recorder, self.stats.counts, life_cap=options.life_cap,
            hot_capacity=options.hot_capacity, hot_half_life=options.hot_half_life,
            grace=options.life_grace,
        )  # fmt: skip
        self.tuning = Tuning(self.store, self.fill, options, self.meter)
        self.supervisor.upkeep.append(self.flush_analytics)
        self.started_at = now_iso()
        self.bus = Bus(
            redis, self.origin, self._on_bus_live, self._on_bus_invalidate,
            self.fill.notices.handle, self._on_bus_error,
        )  # fmt: skip
        self.drains: list[OutboxDrain] = []
        self._started = False
        if self.sentinel is not None:
            self.sentinel.listeners.append(self._on_master_changed)

    # ------------------------------------------------------------------ operations

    async def invalidate(self, names: Sequence[str], indexes: Sequence[str] = ()) -> int:
        """The number of keys deleted; one that failed is kept and replayed."""
        return await self.invalidator.invalidate(names, indexes) or 0

    async def invalidate_durable(self, names: Sequence[str], indexes: Sequence[str]) -> bool:
        """For a caller that keeps the invalidation itself until this returns True."""
        return await self.invalidator.invalidate(names, indexes, keep=False) is not None

    def attach_outbox(self, queue: DurableQueue, interval: float) -> OutboxDrain:
        """Drain `queue` every `interval` and hold the breaker open while this instance owes
        it invalidations (see `drain.py`)."""
        drain = OutboxDrain(queue, self.invalidate_durable, self.breaker, self.meter, interval)
        self.drains.append(drain)
        self.supervisor.gates.append(drain)
        if self._started:
            self.spawn(drain.run())
        return drain

    @property
    def pending(self) -> int:
        return self.supervisor.pending

    # ------------------------------------------------------------------- analytics

    async def flush_analytics(self) -> None:
        """Send the analytics, report this instance, follow the applied TTLs, and let the
        auto-tuner decide when it is its turn (the upkeep loop, every flush)."""
        # A cache that runs no background work (a CLI command) is no instance to report.
        report = self.report() if self._started else None
        self.tuning.sync(await self.insights.flush(report, self.origin))
        await self.tuning.maybe_decide(self.advices)

    async def advices(self) -> dict[str, Advice]:
        """The TTL advice of every family, from the analytics of all instances."""
        raw = await read_raw(self.store, hot=0, slots=1)
        families = render_local(self.stats)["families"]
        out = {}
        for family, ttl_ms in self.fill.ttl_ms.items():
            base = families.get(family, {})
            _, advice = family_figures(
                base, family, raw, ttl_ms, self.tuning.configured(family), now_s()
            )
            out[family] = advice
        return out

    def report(self) -> dict[str, Any]:
        """This instance's state, as the dashboard shows it."""
        totals = render_local(self.stats)
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "startedAt": self.started_at,
            "reportedAt": now_iso(),
            "circuit": self.breaker.state.value,
            "breakerOpened": self.breaker.opened_count,
            "errors": totals["errors"],
            "hits": totals["hits"],
            "misses": totals["misses"],
            "hitRatio": totals["hitRatio"],
            "pendingInvalidations": self.pending,
            "l1Items": len(self.l1) if self.l1 is not None else None,
            "ttlAuto": self.options.ttl_auto,
            "flushInterval": self.options.flush_interval,
        }

    # ------------------------------------------------------------------- lifecycle

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start(self) -> None:
        """Start the background work: upkeep and probes, the subscription, outbox drains."""
        if self._started:
            return
        self._started = True
        await self._open_connections()
        self._upkeep = self.spawn(self.supervisor.run())
        self.spawn(self.bus.run())
        self.spawn(self.fill.keeper.run())
        for drain in self.drains:
            self.spawn(drain.run())
        if self.sentinel is not None:
            self.spawn(self.sentinel.follow())

    async def _open_connections(self) -> None:
        """Open the pool's connections before the server takes traffic, as a server that
        has been running has them: setting up a burst's connections on the event loop made
        its commands time out on a loaded machine (and a cluster client then drops every
        connection of the node). Bounded by `warm_timeout` (a black-holed Redis)."""
        count = min(self.options.warm_connections, self.options.redis_slots)
        if count <= 0:
            return
        try:
            async with asyncio.timeout(self.options.warm_timeout):
                opened = await self.store.open_connections(count)
        except Exception:  # timed out, or a cluster's slots unreadable: the probes see to it
            opened = 0
        self.meter.log.info("cache_connections_opened", opened=opened, wanted=count)

    async def aclose(self) -> None:
        """Stop the background work; deliver what is pending if Redis answers; flush stats."""
        self.bus.closing = True
        self.supervisor.stop()
        for drain in self.drains:
            drain.stop()
        if self._started:
            await asyncio.wait([self._upkeep], timeout=2.0)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        self._started = False
        if self.breaker.closed and self.pending:
            try:
                await self.invalidator.replay()
                for drain in self.drains:
                    await drain.settle()
            except Exception as exc:  # the outbox keeps its part for the other instances
                self.meter.failed("replay", "", None, 0.0, exc, redis=False)
        if await self.supervisor.flush_stats(force=True) and self.breaker.closed:
            await self.supervisor.run_upkeep()
        if self.sentinel is not None and self._on_master_changed in self.sentinel.listeners:
            self.sentinel.listeners.remove(self._on_master_changed)

    # ------------------------------------------------------------------- callbacks

    def _probe(self) -> None:
        self.supervisor.maybe_probe()

    def _trip(self, reason: str) -> None:
        self.supervisor.trip(reason)

    def _opened(self, reason: str) -> None:
        self.supervisor.opened(reason)

    def _on_master_changed(self, previous: Address, current: Address) -> None:
        """Sentinel moved the master: hold the breaker open, hand what was sent recently to
        the replay (started at once; the probe finishes it). (The subscription moves by
        itself: `bus.Subscription` follows the pool too.)"""
        self.store.epoch += 1
        recent = self.invalidator.recent
        replayed = recent.replay_into(self.invalidator.deferred) if recent is not None else 0
        self.supervisor.master_changed("the Redis master changed", self.options.failover_hold)
        self.meter.log.event(
            "cache_master_changed",
            previous=f"{previous[0]}:{previous[1]}",
            master=f"{current[0]}:{current[1]}",
            replayed=replayed,
        )
        if self._started:
            self.spawn(self._replay_now())

    async def _replay_now(self) -> None:
        try:
            await self.invalidator.replay()
        except Exception as exc:  # kept for the probe
            self.meter.failed("replay", "", None, 0.0, exc)

    def _on_bus_live(self, live: bool) -> None:
        if self.l1 is not None:
            self.l1.clear()
            self.l1.live = live
        if not live:
            self.fill.notices.lost()
        if self.meter.log.enabled:
            self.meter.log.info("cache_subscription", live=live)

    def _on_bus_invalidate(self, names: list[str], indexes: list[str], everything: bool) -> None:
        if everything:
            self.invalidator.forget_all()
        else:
            self.invalidator.forget(names, indexes)

    def _on_bus_error(self, exc: BaseException) -> None:
        self.meter.log.failed("subscribe", "cache:invalidate", 0.0, exc)
