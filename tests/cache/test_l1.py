"""The in-process tier (GOMEET_CACHE_L1=on).

Guarantees: a hit in the tier costs no Redis round trip; an invalidation on any instance
reaches every other instance's tier through Redis pub/sub; the tier is only served while
its subscription is up and is emptied whenever the subscription is lost or re-established,
so a missed message cannot make a value staler than GOMEET_CACHE_L1_TTL (the documented
bound, which these tests measure with a deliberately missed message).
"""

from __future__ import annotations

import asyncio
import uuid

import orjson
from cache_helpers import Loader, MakeCache, eventually, l1_live
from redis.asyncio import Redis

from gomeet.cache import keys


async def get_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


async def test_a_tier_hit_makes_no_redis_round_trip(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache(gomeet_cache_l1=True, gomeet_cache_l1_ttl=60)
    assert await eventually(lambda: l1_live(cache))
    key = keys.meeting_details(uuid.uuid4())
    loader = Loader({"name": "Standup"})
    await cache.get_or_load(key, loader)
    before = await get_calls(clean_redis)

    for _ in range(1000):
        assert await cache.get_or_load(key, loader) == {"name": "Standup"}

    assert await get_calls(clean_redis) == before
    assert loader.calls == 1
    stats = await cache.get_cache_stats()
    assert stats["l1Hits"] == 1000 and stats["hits"] == 1000


async def test_a_missed_message_is_bounded_by_the_tier_ttl(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache(gomeet_cache_l1=True, gomeet_cache_l1_ttl=0.3)
    assert await eventually(lambda: l1_live(cache))
    key = keys.user_profile(uuid.uuid4())
    await cache.get_or_load(key, Loader({"role": "user"}))
    # Another writer changes Redis but its message never arrives.
    await clean_redis.set(key.key, orjson.dumps({"role": "admin"}), ex=60)

    await asyncio.sleep(0.35)  # the documented bound: GOMEET_CACHE_L1_TTL

    assert await cache.get_or_load(key, Loader(None)) == {"role": "admin"}


async def test_losing_the_subscription_empties_the_tier(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache(gomeet_cache_l1=True, gomeet_cache_l1_ttl=600)
    assert await eventually(lambda: l1_live(cache))
    key = keys.participant_list(uuid.uuid4())
    await cache.get_or_load(key, Loader([{"name": "Ann"}]))
    await clean_redis.set(key.key, orjson.dumps([{"name": "Ann"}, {"name": "Bob"}]), ex=60)

    await clean_redis.client_kill_filter(_type="pubsub")  # messages may be lost from here

    async def fresh() -> bool:
        value = await cache.get_or_load(key, Loader(None))
        return bool(value == [{"name": "Ann"}, {"name": "Bob"}])

    assert await eventually(fresh, within=5.0)  # not after the 600 s tier TTL
    assert await eventually(lambda: l1_live(cache))  # and it resubscribes by itself


async def test_a_fill_racing_an_invalidation_message_is_not_kept_in_the_tier(
    make_cache: MakeCache,
) -> None:
    reader = await make_cache(gomeet_cache_l1=True, gomeet_cache_l1_ttl=600)
    writer = await make_cache(gomeet_cache_l1=True, gomeet_cache_l1_ttl=600)
    assert await eventually(lambda: l1_live(reader))
    key = keys.meeting_details(uuid.uuid4())
    stale = Loader({"name": "old"})
    stale.gate = asyncio.Event()

    filling = asyncio.create_task(reader.get_or_load(key, stale))
    await stale.started.wait()
    await writer.invalidate(key)
    await asyncio.sleep(0.1)  # the message arrives while the reader is still loading
    stale.gate.set()
    await filling

    assert await reader.get_or_load(key, Loader({"name": "new"})) == {"name": "new"}
