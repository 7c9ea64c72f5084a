"""Stampede protection.

Guarantees: any number of concurrent readers of a missing or expired key cause one load,
within one process (single-flight) and across processes (the Redis lease: the others wait
briefly for the filler's value); a burst larger than the connection pool queues for a
connection instead of failing over to the database; a hot key is refreshed early by one
reader while everyone else keeps being served the cached value.
"""

from __future__ import annotations

import asyncio
import uuid

from cache_helpers import Loader, MakeCache
from redis.asyncio import Redis

from gomeet.cache import CacheOptions, keys


async def test_a_thousand_concurrent_readers_cause_one_load(make_cache: MakeCache) -> None:
    cache = await make_cache()
    key = keys.meeting_details(uuid.uuid4())
    loader = Loader({"name": "All hands"}, delay=0.05)

    results = await asyncio.gather(*(cache.get_or_load(key, loader) for _ in range(1000)))

    assert loader.calls == 1
    assert results == [{"name": "All hands"}] * 1000
    stats = await cache.get_cache_stats()
    assert stats["loads"] == 1
    assert stats["errors"] == 0
    assert stats["fallbacks"] == 0  # nobody fell back to the database for want of a connection


async def test_an_expired_hot_key_is_loaded_once(make_cache: MakeCache, clean_redis: Redis) -> None:
    cache = await make_cache()
    key = keys.participant_list(uuid.uuid4())
    loader = Loader([{"name": "Ann"}], delay=0.05)
    await cache.get_or_load(key, loader)
    await clean_redis.delete(key.key)  # expiry, as Redis does it: no invalidation message

    await asyncio.gather(*(cache.get_or_load(key, loader) for _ in range(1000)))

    assert loader.calls == 2


async def test_two_instances_share_one_load(make_cache: MakeCache) -> None:
    # A generous lease wait keeps the test independent of machine speed.
    options = CacheOptions(lease_wait=10.0)
    first, second = await make_cache(options=options), await make_cache(options=options)
    key = keys.meeting_list(uuid.uuid4(), 1, 10, None)
    loader = Loader({"meetings": [], "pagination": {"total": 0}}, delay=0.1)

    results = await asyncio.gather(
        *(cache.get_or_load(key, loader) for _ in range(500) for cache in (first, second))
    )

    assert loader.calls == 1
    assert all(r == {"meetings": [], "pagination": {"total": 0}} for r in results)


async def test_a_reader_does_not_wait_forever_for_a_dead_filler(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache(options=CacheOptions(lease_wait=0.05))
    key = keys.user_profile(uuid.uuid4())
    await clean_redis.set(key.key, b"~lease:0123456789abcdef", px=60_000)  # filler crashed
    loader = Loader({"username": "ann"})

    assert await cache.get_or_load(key, loader) == {"username": "ann"}
    assert loader.calls == 1
    assert await clean_redis.get(key.key) == b"~lease:0123456789abcdef"  # not ours to replace


async def test_a_hot_key_is_refreshed_early_and_readers_keep_hitting(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    # Every hit checks the remaining TTL; with refresh_ahead=1 any remaining TTL qualifies.
    cache = await make_cache(options=CacheOptions(refresh_sample=1, refresh_ahead=1.0))
    other = await make_cache()
    key = keys.meeting_details(uuid.uuid4())
    loader = Loader({"version": 1})
    await cache.get_or_load(key, loader)
    loader.value = {"version": 2}
    loader.gate = asyncio.Event()
    loader.started.clear()

    refreshing = asyncio.create_task(cache.get_or_load(key, loader))
    await loader.started.wait()  # one reader won the refresh and is reloading...
    raw = await clean_redis.get(key.key)
    assert raw is not None and raw.startswith(b"~refresh:")
    # ...while everyone else is still served the cached value, without loading.
    assert await other.get_or_load(key, Loader({"version": 0})) == {"version": 1}
    loader.gate.set()

    assert await refreshing == {"version": 2}
    assert loader.calls == 2
    assert await other.get_or_load(key, Loader({"version": 0})) == {"version": 2}
    assert 0.9 * 900_000 - 1000 <= await clean_redis.pttl(key.key) <= 900_000


async def test_an_invalidation_voids_an_early_refresh(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache(options=CacheOptions(refresh_sample=1, refresh_ahead=1.0))
    key = keys.meeting_details(uuid.uuid4())
    loader = Loader({"version": 1})
    await cache.get_or_load(key, loader)
    loader.gate = asyncio.Event()
    loader.started.clear()

    refreshing = asyncio.create_task(cache.get_or_load(key, loader))
    await loader.started.wait()
    await cache.invalidate(key)
    loader.gate.set()
    await refreshing

    assert await clean_redis.get(key.key) is None
