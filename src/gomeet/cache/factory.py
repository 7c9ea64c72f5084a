"""Building the cache from settings: for the app's lifespan and for one-shot tools."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from gomeet.cache.core import CacheOptions
from gomeet.cache.repository import CacheRepository
from gomeet.config import Settings
from gomeet.redis_client import create_redis


def build_cache(
    settings: Settings, redis: Redis | None, options: CacheOptions | None = None
) -> CacheRepository:
    """The app's cache. With `GOMEET_CACHE=off` (or no Redis) it never touches Redis.

    Call `await cache.start()` to run its background work (stats flushing, breaker probes,
    the in-process tier's invalidation subscription) and `await cache.aclose()` at the end.
    """
    if not settings.gomeet_cache or redis is None:
        return CacheRepository()
    return CacheRepository(redis, settings, options)


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
