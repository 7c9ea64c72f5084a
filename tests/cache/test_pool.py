"""The one Redis client is shared by the cache and the rate limiter; bursts must queue.

Guarantee: more concurrent commands than pooled connections wait for a connection instead
of failing, so a burst of reads on a small pool (with the rate limiter's commands on the
same client) is served from the cache with zero cache errors and no extra database load.
"""

from __future__ import annotations

import asyncio
import uuid

from cache_helpers import Loader, cache_settings
from redis.asyncio import Redis

from gomeet.cache import build_cache, keys
from gomeet.redis_client import create_redis


async def test_a_burst_larger_than_the_shared_pool_is_served_without_errors(
    redis_url: str, clean_redis: Redis
) -> None:
    settings = cache_settings(redis_url, redis_max_connections=4)
    redis = create_redis(settings)
    cache = build_cache(settings, redis)
    await cache.start()
    try:
        key = keys.meeting_details(uuid.uuid4())
        loader = Loader({"name": "standup"})
        assert await cache.get_or_load(key, loader) == {"name": "standup"}

        async def rate_limiter_hit(n: int) -> None:  # what the rate limiter sends per request
            await redis.incr(f"test:ratelimit:{n % 7}")

        reads = [cache.get_or_load(key, loader) for _ in range(200)]
        limiter = [rate_limiter_hit(n) for n in range(200)]
        results = await asyncio.gather(*reads, *limiter, return_exceptions=True)

        assert [r for r in results if isinstance(r, BaseException)] == []
        assert results[:200] == [{"name": "standup"}] * 200
        assert loader.calls == 1  # every read of the burst was a hit
        stats = await cache.get_cache_stats()
        assert (stats["errors"], stats["circuit"]) == (0, "closed")
    finally:
        await cache.aclose()
        await redis.aclose()
