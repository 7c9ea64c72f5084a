"""Our cache layer, built for a benchmark the way the app's lifespan builds it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from gomeet.cache import CacheKey, CacheRepository, Family, build_cache
from gomeet.config import Settings

Loader = Callable[[], Awaitable[Any]]
ReadThrough = Callable[[str, Loader], Awaitable[Any]]


@contextlib.asynccontextmanager
async def open_ours(settings: Settings, redis: Redis) -> AsyncIterator[CacheRepository]:
    """A started cache on `redis` (stats flushing, breaker probes, invalidation bus)."""
    cache = build_cache(settings, redis)
    await cache.start()
    try:
        yield cache
    finally:
        await cache.aclose()


def ours_read(cache: CacheRepository) -> ReadThrough:
    """Our read-through as the scenarios call every variant: `read(key, loader)`."""
    get_or_load = cache.get_or_load

    async def read(key: str, loader: Loader) -> Any:
        return await get_or_load(CacheKey(Family.MEETING_DETAILS, key), loader)

    return read
