"""Redis down, killed, frozen or restarted.

Guarantees: every read still succeeds from the loader and no cache error reaches the
caller; after a few consecutive failures the circuit breaker opens and reads stop trying
Redis at all (so they stop waiting on it); invalidations that could not be delivered are
kept and applied before the cache is used again, so a value made stale during the outage
is never served afterwards; caching resumes by itself once Redis answers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Callable

from cache_helpers import Loader, MakeCache
from redis.asyncio import Redis

from gomeet.cache import CacheOptions, CacheRepository, keys
from gomeet.embedded import EmbeddedRedis
from support.apps import WARM_POOL
from support.proxy import TcpProxy, Upstream

DEAD = "redis://127.0.0.1:1/0"


async def resumed(cache: CacheRepository, key: object, loader: Loader) -> bool:
    """Poll until a read is a hit again (the loader is not called)."""
    for _ in range(500):
        before = loader.calls
        await cache.get_or_load(key, loader)  # type: ignore[arg-type]
        if loader.calls == before:
            return True
        await asyncio.sleep(0.03)
    return False


async def test_redis_down_at_start(make_cache: MakeCache) -> None:
    cache = await make_cache(DEAD)
    loader = Loader({"name": "from the database"})

    results = [
        await cache.get_or_load(keys.meeting_details(uuid.uuid4()), loader) for _ in range(50)
    ]
    results += await asyncio.gather(
        *(cache.get_or_load(keys.meeting_details(uuid.uuid4()), loader) for _ in range(200))
    )
    await cache.invalidate(keys.meeting_details(uuid.uuid4()))
    await cache.put(keys.feature_flag("use_webrtc_mesh"), {"enabled": True})

    assert results == [{"name": "from the database"}] * 250
    assert loader.calls == 250
    stats = await cache.get_cache_stats()
    assert stats["circuit"] == "open"
    assert stats["errors"] < 20  # the breaker stopped the attempts after a few failures
    assert stats["fallbacks"] == 250
    assert stats["pendingInvalidations"] == 2
    assert stats["source"] == "local"


async def test_redis_black_holed_at_start(
    make_cache: MakeCache, redis_url: str, tcp_proxy: Callable[..., TcpProxy]
) -> None:
    """Opening the pool at start waits out a Redis that answers nothing only up to its
    bound; reads come from the loader meanwhile and are cached once Redis answers."""
    proxy = tcp_proxy(Upstream.of_redis_url(redis_url))
    proxy.blackhole()
    cache = await asyncio.wait_for(make_cache(proxy.redis_url(redis_url), **WARM_POOL), 10)
    loader = Loader({"name": "from the database"})

    results = await asyncio.gather(
        *(cache.get_or_load(keys.meeting_details(uuid.uuid4()), loader) for _ in range(20))
    )
    proxy.passthrough()

    assert results == [{"name": "from the database"}] * 20
    assert loader.calls == 20
    assert await resumed(cache, keys.meeting_details(uuid.uuid4()), loader)


async def test_a_cluster_down_at_start(make_cache: MakeCache) -> None:
    """No node answers, so the slots map cannot be read: the cache starts all the same."""
    cache = await make_cache(redis_cluster_url=DEAD)
    loader = Loader({"name": "from the database"})

    results = await asyncio.gather(
        *(cache.get_or_load(keys.meeting_details(uuid.uuid4()), loader) for _ in range(20))
    )

    assert results == [{"name": "from the database"}] * 20
    assert loader.calls == 20
    assert (await cache.get_cache_stats())["circuit"] == "open"


async def test_killed_mid_load_and_restarted(
    make_cache: MakeCache, own_redis: EmbeddedRedis
) -> None:
    cache = await make_cache(own_redis.url)
    hot = [keys.participant_list(uuid.uuid4()) for _ in range(5)]
    loader = Loader([{"name": "Ann"}])
    failures: list[BaseException] = []
    served = 0
    milestones = {500: asyncio.Event(), 3000: asyncio.Event()}

    async def client() -> None:
        nonlocal served
        for i in range(300):
            try:
                assert await cache.get_or_load(hot[i % 5], loader) == [{"name": "Ann"}]
                served += 1
            except BaseException as exc:  # any failure is a test failure
                failures.append(exc)
            if served in milestones:
                milestones[served].set()
            await asyncio.sleep(0)

    clients = [asyncio.create_task(client()) for _ in range(20)]
    await milestones[500].wait()
    own_redis.stop()  # killed mid-load
    await milestones[3000].wait()
    own_redis.start()  # same port, empty
    await asyncio.gather(*clients)

    assert failures == []
    assert served == 6000
    assert await resumed(cache, hot[0], loader)
    assert (await cache.get_cache_stats())["circuit"] == "closed"


async def test_frozen_redis_stops_costing_time_and_replays_invalidations(
    make_cache: MakeCache, own_redis: EmbeddedRedis
) -> None:
    cache = await make_cache(own_redis.url, options=CacheOptions(breaker_cooldown=0.2))
    key = keys.meeting_details(uuid.uuid4())
    loader = Loader({"name": "old name"})
    await cache.get_or_load(key, loader)  # Redis now holds the old name
    assert own_redis.pid is not None
    os.kill(own_redis.pid, signal.SIGSTOP)  # alive but not answering: reads time out
    try:
        loader.value = {"name": "new name"}  # a write commits...
        reads = [await cache.get_or_load(key, loader) for _ in range(20)]
        await cache.invalidate(key)  # ...and its invalidation cannot reach Redis
        stats = await cache.get_cache_stats()
    finally:
        os.kill(own_redis.pid, signal.SIGCONT)

    assert reads == [{"name": "new name"}] * 20
    assert stats["circuit"] == "open"
    assert stats["errors"] < 10  # only the first reads waited for a timeout
    assert stats["pendingInvalidations"] == 1

    seen = []
    for _ in range(500):
        before = loader.calls
        seen.append(await cache.get_or_load(key, loader))
        if loader.calls == before:
            break
        await asyncio.sleep(0.03)
    assert loader.calls > 21  # caching resumed: the value was reloaded once...
    assert seen[-1] == {"name": "new name"}  # ...and the stale entry was never served
    assert {"name": "old name"} not in seen
    raw = Redis.from_url(own_redis.url)
    assert b"new name" in (await raw.get(key.key) or b"")
    await raw.aclose()


async def test_invalidations_kept_while_down_are_bounded(make_cache: MakeCache) -> None:
    cache = await make_cache(DEAD, options=CacheOptions(pending_max=100))
    for _ in range(5):  # open the breaker
        await cache.get_or_load(keys.user_profile(uuid.uuid4()), Loader({}))

    for _ in range(500):
        await cache.invalidate(keys.user_profile(uuid.uuid4()))

    # Past the bound it remembers only "flush everything on recovery".
    assert (await cache.get_cache_stats())["pendingInvalidations"] <= 101
