"""The one seam for the bookkeeping of every cache operation: timing, stats, the op log,
the circuit breaker's failure count, and the analytics' in-process recording
(`analytics.py`: O(1) counting and sampling on the hot path, the rest in the upkeep loop)."""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any, Final
from zlib import crc32

from redis.exceptions import ClusterDownError, MaxConnectionsError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gomeet.cache.analytics import Recorder
from gomeet.cache.breaker import CircuitBreaker
from gomeet.cache.oplog import OpLog
from gomeet.cache.stats import ERRORS, OTHER, CacheStats

_crc32 = crc32

# Errors that say Redis is unreachable or too slow (they count towards opening the breaker);
# on a cluster also no node answering (RedisClusterException: "cannot be connected", slots
# not covered) and CLUSTERDOWN. A full connection pool is not one of them: Redis answers,
# this process is just busy.
_TRIPS: Final = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    TimeoutError,
    RedisClusterException,
    ClusterDownError,
)


def unreachable(exc: BaseException) -> bool:
    return isinstance(exc, _TRIPS) and not isinstance(exc, MaxConnectionsError)


class Meter:
    __slots__ = ("_on_open", "analytics", "breaker", "counts", "log", "ops", "stats")

    def __init__(
        self,
        stats: CacheStats,
        log: OpLog,
        breaker: CircuitBreaker,
        on_open: Callable[[str], None],
        analytics: Recorder,
    ) -> None:
        self.stats = stats
        self.analytics = analytics
        self.counts = stats.counts  # family -> counters (the hot path indexes them directly)
        self.ops = stats.ops
        self.log = log
        self.breaker = breaker
        self._on_open = on_open

    def ok(self, op: str, name: str, t0: float, hit: bool = False, **extra: Any) -> float:
        """A Redis operation that succeeded: timed, logged, and the breaker's failures reset."""
        seconds = perf_counter() - t0
        self.ops[op].observe(seconds)
        self.breaker.failures = 0
        if self.log.enabled:
            self.log.done(op, name, hit, seconds, **extra)
        return seconds

    def failed(
        self,
        op: str,
        name: str,
        family: str | None,
        t0: float,
        exc: BaseException | str,
        *,
        redis: bool = True,
    ) -> None:
        """An operation that failed: an error counted and logged (warning); when it is Redis
        that failed (unreachable, timed out), one more failure towards opening the breaker."""
        self.counts[family or OTHER][ERRORS] += 1
        self.log.failed(op, name, perf_counter() - t0 if t0 else 0.0, exc)
        if redis and isinstance(exc, BaseException) and unreachable(exc) and self.breaker.failure():
            self._on_open(f"{type(exc).__name__}: {exc}")

    def count(self, family: str, field: int, n: int = 1) -> None:
        self.counts[family][field] += n

    # ------------------------------------------------------------------ analytics

    def read(self, name: str, tracked: bool | None = None) -> bool:
        """A read served from the cache (either tier): maybe sampled for the hot keys, and
        counted for its entry when the key is tracked (`tracked` None: decide here).
        Returns whether it is tracked (the in-process tier keeps that with the entry)."""
        analytics = self.analytics
        analytics.countdown -= 1
        if analytics.countdown <= 0:
            analytics.sample_hot(name)
        if tracked is None:
            tracked = not _crc32(name.encode()) & analytics.life_mask
        if tracked:
            analytics.entry_read(name)
        return tracked

    def missed(self, name: str) -> None:
        """A read the cache could not serve: a read of the key all the same (hot keys)."""
        analytics = self.analytics
        analytics.countdown -= 1
        if analytics.countdown <= 0:
            analytics.sample_hot(name)

    def loaded(self, family: str, seconds: float) -> None:
        self.ops["load"].observe(seconds)
        self.analytics.loaded(family, seconds)

    def filled(
        self,
        name: str,
        family: str,
        ttl_ms: int,
        nominal_ms: int,
        index: str | None,
        *,
        refresh: bool = False,
    ) -> bool:
        """A value stored for its family's TTL; True when its key is tracked."""
        analytics = self.analytics
        if not analytics.tracks(name):
            return False
        analytics.filled(name, family, ttl_ms, nominal_ms, index, refresh)
        return True

    def gone(self, names: list[str], indexes: list[str], *, counted: bool = True) -> None:
        self.analytics.gone(names, indexes, counted=counted)
