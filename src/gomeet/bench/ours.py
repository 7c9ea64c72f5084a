"""Our cache layer, built for a benchmark the way the app's lifespan builds it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from gomeet.cache import CacheRepository, build_cache
from gomeet.config import Settings


@contextlib.asynccontextmanager
async def open_ours(settings: Settings, redis: Redis) -> AsyncIterator[CacheRepository]:
    """A started cache on `redis` (stats flushing, breaker probes, invalidation bus)."""
    cache = build_cache(settings, redis)
    await cache.start()
    try:
        yield cache
    finally:
        await cache.aclose()
