"""Building the cache from settings: for the app's lifespan and for one-shot tools."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from gomeet.cache.engine import CacheEngine
from gomeet.cache.families import Family
from gomeet.cache.options import CacheOptions
from gomeet.cache.repository import CacheRepository
from gomeet.config import Settings
from gomeet.observability.cache_log import JsonOpLog
from gomeet.redis_client import create_redis, pool_timeout


def cache_options(settings: Settings, base: CacheOptions | None = None) -> CacheOptions:
    """The engine's options: `base`'s tuning, with the TTLs, tier and pool from settings."""
    return dataclasses.replace(
        base or CacheOptions(),
        ttls={f.value: float(settings.cache_ttl(f.value)) for f in Family},
        redis_slots=settings.redis_max_connections,
        warm_connections=settings.redis_warm_connections,
        warm_timeout=pool_timeout(settings),
        l1=settings.gomeet_cache_l1,
        l1_ttl=settings.gomeet_cache_l1_ttl,
        l1_max_items=settings.gomeet_cache_l1_max_items,
        l1_max_bytes=settings.gomeet_cache_l1_max_bytes,
        ttl_auto=settings.cache_ttl_auto,
    )


def build_cache(
    settings: Settings, redis: Redis | None, options: CacheOptions | None = None
) -> CacheRepository:
    """The app's cache. With `GOMEET_CACHE=off` (or no Redis) it never touches Redis.

    Call `await cache.start()` to run its background work (stats flushing, breaker probes,
    the subscription, outbox drains) and `await cache.aclose()` at the end.
    """
    if not settings.gomeet_cache or redis is None:
        return CacheRepository()
    return CacheRepository(CacheEngine(redis, cache_options(settings, options), JsonOpLog()))


@contextlib.asynccontextmanager
async def open_cache(settings: Settings, url: str | None = None) -> AsyncIterator[CacheRepository]:
    """A cache on its own Redis client, for CLI commands: invalidations made through it
    reach the running servers' in-process tiers too. Nothing runs in the background; its
    stats are flushed on exit."""
    redis = create_redis(settings, url)
    cache = build_cache(settings, redis)
    try:
        yield cache
    finally:
        await cache.aclose()
        await redis.aclose()
