"""Breaker supervision, unleased loads and the writer's own tier (issue 7, defects 4, 6, 8).

Guarantees: the breaker closes only once nothing this instance owes Redis is pending, even
when invalidations keep arriving while the probe applies them; a load made without a lease
(Redis unusable) is never handed to a caller who arrived after it began; the writing
instance's in-process tier keeps nothing it read between its own forget and the delete.
"""

from __future__ import annotations

import asyncio
import uuid

from cache_helpers import Loader, MakeCache
from redis.asyncio import Redis

from gomeet.cache import CacheOptions, CacheRepository, keys
from gomeet.embedded import EmbeddedRedis


class LateInvalidations:
    """A recovery gate whose first settle sees a write arrive: another invalidation is
    deferred while the probe is applying what it had (as a request would defer one)."""

    def __init__(self, cache: CacheRepository, late_key: str) -> None:
        self.cache = cache
        self.late_key = late_key
        self.rounds = 0

    @property
    def pending(self) -> int:
        return 0

    async def settle(self) -> None:
        self.rounds += 1
        if self.rounds == 1:
            await self.cache.invalidate_names([self.late_key])  # breaker still half-open


async def closed_with_nothing_pending(cache: CacheRepository) -> tuple[bool, int]:
    """Watch the breaker; at the first moment it is seen closed, what is still pending."""
    for _ in range(1000):
        if cache.breaker.closed:
            return True, cache.pending_invalidations
        await asyncio.sleep(0.005)
    return False, -1


async def test_the_breaker_closes_only_after_what_arrived_during_the_replay_is_applied(
    make_cache: MakeCache, own_redis: EmbeddedRedis
) -> None:
    cache = await make_cache(own_redis.url, options=CacheOptions(breaker_cooldown=0.05))
    early, late = keys.meeting_details(uuid.uuid4()), keys.meeting_details(uuid.uuid4())
    for key in (early, late):
        await cache.get_or_load(key, Loader({"v": "old"}))
    own_redis.stop()
    await cache.invalidate(early)  # cannot reach Redis: kept, breaker open
    assert not cache.breaker.closed
    assert cache.engine is not None
    gate = LateInvalidations(cache, late.key)
    cache.engine.supervisor.gates.append(gate)
    own_redis.start()

    closed, pending = await closed_with_nothing_pending(cache)

    assert closed and pending == 0
    # The late one was delivered while the probe ran (half-open delivers invalidations),
    # or kept and applied by another round: either way, before the breaker closed.
    assert gate.rounds >= 1
    redis = Redis.from_url(own_redis.url)
    try:
        assert await redis.exists(early.key, late.key) == 0  # both applied before closing
    finally:
        await redis.aclose()


async def test_an_unleased_load_is_not_handed_to_later_callers(make_cache: MakeCache) -> None:
    """Redis is down: reads go to the database. A caller arriving after a write returned
    must not be given a load that read the database before the write."""
    cache = await make_cache("redis://127.0.0.1:1/0")
    key = keys.meeting_details(uuid.uuid4())
    database = {"name": "before"}
    reads: list[str] = []
    gate = asyncio.Event()

    async def load() -> dict[str, str]:
        seen = database["name"]  # the query runs now...
        reads.append(seen)
        await gate.wait()  # ...and its result comes back later
        return {"name": seen}

    early = asyncio.create_task(cache.get_or_load(key, load))
    await asyncio.sleep(0.05)  # its load has read "before"
    database["name"] = "after"  # a write commits and returns
    late = asyncio.create_task(cache.get_or_load(key, load))
    await asyncio.sleep(0.05)
    gate.set()

    assert await early == {"name": "before"}
    assert await late == {"name": "after"}
    assert reads == ["before", "after"]


async def test_concurrent_unleased_readers_still_share_loads(make_cache: MakeCache) -> None:
    cache = await make_cache("redis://127.0.0.1:1/0")
    key = keys.meeting_details(uuid.uuid4())
    loader = Loader({"name": "x"}, delay=0.05)

    results = await asyncio.gather(*(cache.get_or_load(key, loader) for _ in range(200)))

    assert results == [{"name": "x"}] * 200
    assert loader.calls <= 2  # the first load, and one for everyone who came after it began


async def test_the_writers_own_tier_drops_what_it_reread_before_the_delete(
    make_cache: MakeCache,
) -> None:
    cache = await make_cache(gomeet_cache_l1=True, gomeet_cache_l1_ttl=600)
    assert cache.engine is not None and cache.l1 is not None
    for _ in range(200):
        if cache.l1.live:
            break
        await asyncio.sleep(0.01)
    key = keys.user_profile(uuid.uuid4())
    await cache.get_or_load(key, Loader({"tokenVersion": 0}))
    store = cache.engine.store
    delete = store.invalidate

    async def delete_after_a_reader(*args: object, **kwargs: object) -> object:
        # A request on this instance reads Redis after the local forget, before the delete.
        assert await cache.get_or_load(key, Loader({"tokenVersion": -1})) == {"tokenVersion": 0}
        return await delete(*args, **kwargs)  # type: ignore[arg-type]

    store.invalidate = delete_after_a_reader  # type: ignore[method-assign]
    try:
        await cache.invalidate(key)  # e.g. a logout
    finally:
        store.invalidate = delete  # type: ignore[method-assign]

    assert key.key not in cache.l1.data
    assert await cache.get_or_load(key, Loader({"tokenVersion": 1})) == {"tokenVersion": 1}
