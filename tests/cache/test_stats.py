"""Cache statistics in the `cache:stats` hash.

Guarantees: every instance counts in-process and adds its counts to one Redis hash with
HINCRBY, so the hash holds exact sums over all instances; `get_cache_stats` adds the hit
ratio and per-family figures; a flush that fails keeps its counts for the next one.
"""

from __future__ import annotations

import asyncio
import uuid

from cache_helpers import Loader, MakeCache, cache_settings
from redis.asyncio import Redis

from gomeet.cache import build_cache, keys
from gomeet.embedded import EmbeddedRedis
from gomeet.redis_client import create_redis


async def test_the_background_flush_needs_no_call(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    from gomeet.cache import CacheOptions

    cache = await make_cache(options=CacheOptions(flush_interval=0.05))
    await cache.get_or_load(keys.meeting_details(uuid.uuid4()), Loader({"v": 1}))

    for _ in range(200):
        if await clean_redis.hget("cache:stats", "misses") == b"1":
            break
        await asyncio.sleep(0.02)
    assert await clean_redis.hget("cache:stats", "misses") == b"1"


async def test_a_failed_flush_loses_no_counts(own_redis: EmbeddedRedis) -> None:
    settings = cache_settings(own_redis.url)
    redis = create_redis(settings)
    cache = build_cache(settings, redis)  # not started: flushes are explicit here
    try:
        for _ in range(3):
            await cache.get_or_load(keys.feature_flag("enable_sfu_logs"), Loader({"on": True}))
        own_redis.stop()
        assert not await cache.flush_stats(force=True)

        own_redis.start()
        assert await cache.flush_stats(force=True)
        fresh = Redis.from_url(own_redis.url)
        stats = await fresh.hgetall("cache:stats")
        await fresh.aclose()
        # 1 miss + 2 hits before the outage; the failed flush's error is counted too.
        assert int(stats[b"hits"]) == 2
        assert int(stats[b"misses"]) == 1
        assert int(stats[b"errors"]) >= 1
    finally:
        await cache.aclose()
        await redis.aclose()


async def test_shutdown_flushes_the_last_counts(make_cache: MakeCache, clean_redis: Redis) -> None:
    cache = await make_cache()
    await cache.get_or_load(keys.public_user("abc"), Loader({"name": "g"}))
    await cache.get_or_load(keys.public_user("abc"), Loader({"name": "g"}))

    await cache.aclose()

    assert await clean_redis.hget("cache:stats", "hits") == b"1"
    assert await clean_redis.hget("cache:stats", "public_user:misses") == b"1"


async def test_concurrent_flushes_never_count_twice(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache()
    key = keys.meeting_details(uuid.uuid4())
    for _ in range(10):
        await cache.get_or_load(key, Loader({"v": 1}))

    await asyncio.gather(*(cache.flush_stats() for _ in range(10)), cache.get_cache_stats())

    assert await clean_redis.hget("cache:stats", "hits") == b"9"
    assert await clean_redis.hget("cache:stats", "misses") == b"1"
