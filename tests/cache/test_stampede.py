"""Stampede protection.

Guarantees: any number of concurrent readers of a missing or expired key cause one load,
within one process (single-flight) and across processes (the Redis lease, kept alive while
a slow load runs: the others wait for the filler's value and are woken when it is stored);
a dead filler's lease is taken over by one waiter; a loader's error reaches every waiter;
a burst larger than the connection pool queues for a connection instead of failing over to
the database; a hot key is refreshed early by one reader while everyone else keeps being
served the cached value.
"""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from cache_helpers import Loader, MakeCache
from redis.asyncio import Redis

from gomeet.cache import CacheOptions, LoadFailed, keys


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


async def test_a_slow_load_is_shared_by_every_reader_of_two_instances(
    make_cache: MakeCache,
) -> None:
    """500 concurrent cold reads over two instances, a load of 3 s (longer than the lease's
    own life, 2 s: the holder keeps it alive): exactly one load."""
    first, second = await make_cache(), await make_cache()
    key = keys.meeting_list(uuid.uuid4(), 1, 10, None)
    loader = Loader({"meetings": [], "pagination": {"total": 0}}, delay=3.0)

    results = await asyncio.gather(
        *(cache.get_or_load(key, loader) for _ in range(250) for cache in (first, second))
    )

    assert loader.calls == 1
    assert all(r == {"meetings": [], "pagination": {"total": 0}} for r in results)


async def test_an_uncontended_miss_publishes_no_notice(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache()
    pubsub = clean_redis.pubsub()
    await pubsub.subscribe("cache:filled")
    await pubsub.get_message(timeout=1.0)  # the subscription confirmation

    await cache.get_or_load(keys.meeting_details(uuid.uuid4()), Loader({"v": 1}))

    assert await pubsub.get_message(timeout=0.2) is None
    await pubsub.aclose()


async def test_waiters_are_woken_by_the_fill_not_by_polling(make_cache: MakeCache) -> None:
    # Waiters re-check only every 30 s: they can only return in time if the fill wakes them.
    options = CacheOptions(lease_poll=30.0)
    holder, waiter = await make_cache(options=options), await make_cache(options=options)
    key = keys.meeting_details(uuid.uuid4())
    loader = Loader({"name": "Standup"})
    loader.gate = asyncio.Event()
    filling = asyncio.create_task(holder.get_or_load(key, loader))
    await loader.started.wait()
    waiting = [asyncio.create_task(waiter.get_or_load(key, loader)) for _ in range(20)]
    await asyncio.sleep(0.05)  # they found the lease and wait

    loader.gate.set()

    results = await asyncio.wait_for(asyncio.gather(filling, *waiting), timeout=10)
    assert results == [{"name": "Standup"}] * 21
    assert loader.calls == 1


async def test_a_dead_fillers_lease_is_taken_over_by_one_waiter(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    options = CacheOptions(lease_ttl=0.3)
    first, second = await make_cache(options=options), await make_cache(options=options)
    key = keys.user_profile(uuid.uuid4())
    await clean_redis.set(key.key, b"~lease:0123456789abcdef", px=300)  # its filler died
    loader = Loader({"username": "ann"}, delay=0.05)

    results = await asyncio.gather(
        *(cache.get_or_load(key, loader) for _ in range(50) for cache in (first, second))
    )

    assert results == [{"username": "ann"}] * 100
    assert loader.calls == 1
    assert orjson.loads(await clean_redis.get(key.key) or b"") == {"username": "ann"}


async def test_a_cancelled_holder_hands_over_at_once(make_cache: MakeCache) -> None:
    options = CacheOptions(lease_poll=30.0, lease_ttl=30.0)
    holder, waiter = await make_cache(options=options), await make_cache(options=options)
    key = keys.meeting_details(uuid.uuid4())
    stuck = Loader({"name": "never"})
    stuck.gate = asyncio.Event()
    filling = asyncio.create_task(holder.get_or_load(key, stuck))
    await stuck.started.wait()
    waiting = asyncio.create_task(waiter.get_or_load(key, Loader({"name": "Retro"})))
    await asyncio.sleep(0.05)

    filling.cancel()  # the holder's client went away mid-load

    assert await asyncio.wait_for(waiting, timeout=10) == {"name": "Retro"}


async def test_a_reader_stops_waiting_for_a_lease_held_past_the_longest_hold(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache(options=CacheOptions(lease_ttl=0.1, lease_max_hold=0.2))
    key = keys.user_profile(uuid.uuid4())
    await clean_redis.set(key.key, b"~lease:0123456789abcdef", px=60_000)  # a stuck holder
    loader = Loader({"username": "ann"})

    assert await cache.get_or_load(key, loader) == {"username": "ann"}
    assert loader.calls == 1
    # Not ours to replace: still the stuck holder's lease (marked as waited for).
    assert (await clean_redis.get(key.key) or b"").startswith(b"~lease:0123456789abcdef")


async def test_a_loaders_error_reaches_the_waiters_of_another_instance(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    holder, waiter = await make_cache(), await make_cache()
    key = keys.meeting_details(uuid.uuid4())
    failing = Loader(None)
    failing.gate = asyncio.Event()

    async def fail() -> None:
        await failing()
        raise RuntimeError("database is on fire")

    filling = asyncio.create_task(holder.get_or_load(key, fail))
    await failing.started.wait()
    spare = Loader({"name": "x"})
    waiting = [asyncio.create_task(waiter.get_or_load(key, spare)) for _ in range(10)]
    await asyncio.sleep(0.05)
    failing.gate.set()

    with pytest.raises(RuntimeError, match="on fire"):
        await filling
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, LoadFailed) and "on fire" in str(o) for o in outcomes)
    assert spare.calls == 0  # nobody went to the database behind the failing load
    assert await clean_redis.get(key.key) is None  # a later reader loads again
    assert await waiter.get_or_load(key, spare) == {"name": "x"}


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
