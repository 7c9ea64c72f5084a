"""Cache analytics on a real Redis: exact figures after a known workload on two instances,
merged in Redis; many readers while flushing; Redis down and restarted; bounded memory."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from cache_helpers import Loader, MakeCache, eventually
from redis.asyncio import Redis

from gomeet.cache import CacheOptions, CacheRepository, keys
from gomeet.cache.engine import CacheEngine
from gomeet.cache.insights import DUE, HOT, LIFE
from gomeet.embedded import EmbeddedRedis

# Every key tracked and every read sampled: the figures are exact.
EXACT = CacheOptions(life_sample=1, hot_sample=1, life_grace=0.5)


def engine_of(cache: CacheRepository) -> CacheEngine:
    assert cache.engine is not None
    return cache.engine


async def flush(*caches: CacheRepository) -> None:
    for cache in caches:
        assert await cache.flush_stats()
        await engine_of(cache).flush_analytics()


async def test_exact_figures_of_a_known_workload_on_two_instances(make_cache: MakeCache) -> None:
    a = await make_cache(options=EXACT, start=False, cache_ttl_feature_flag=1)
    b = await make_cache(options=EXACT, start=False, cache_ttl_feature_flag=1)
    read_then_changed = keys.meeting_details(uuid.uuid4())
    never_read = keys.meeting_details(uuid.uuid4())
    hot_flag, cold_flag = keys.feature_flag("hot_flag"), keys.feature_flag("cold_flag")
    slow = Loader({"name": "x"}, delay=0.02)

    # An entry read 5 times through two instances, then invalidated.
    await a.get_or_load(read_then_changed, slow)
    for _ in range(3):
        await a.get_or_load(read_then_changed, slow)
    for _ in range(2):
        await b.get_or_load(read_then_changed, slow)
    await flush(a)
    await b.invalidate(read_then_changed)
    # An entry nobody read before it was invalidated.
    await b.get_or_load(never_read, slow)
    await a.invalidate(never_read)
    # A flag read, then reloaded right after it expired (TTL 1 s): expired while hot.
    await a.get_or_load(hot_flag, Loader(True))
    await b.get_or_load(hot_flag, Loader(True))
    await b.get_or_load(hot_flag, Loader(True))
    # A flag nobody reads, left to expire.
    await a.get_or_load(cold_flag, Loader(False))
    await flush(a, b)
    await asyncio.sleep(1.1)
    await b.get_or_load(hot_flag, Loader(True))  # a miss: its entry expired
    assert slow.calls == 2
    await a.invalidate(hot_flag)  # and the reloaded entry is invalidated unread
    await flush(a, b)
    await asyncio.sleep(1.2)  # the cold flag's window after expiry passes, and the grace

    stats = await a.get_cache_stats()
    details, flags = stats["families"]["meeting_details"], stats["families"]["feature_flag"]
    assert details["trackedEnded"] == 2
    assert details["invalidatedBeforeExpiry"] == 1.0
    assert details["neverRead"] == 0.5
    assert details["expiredWhileHot"] == 0.0
    assert details["loads"] == 2 and details["hits"] == 5 and details["misses"] == 2
    assert 17 <= details["loadP50Ms"] <= 40  # 20 ms loads, read from merged buckets
    assert details["loadP99Ms"] >= details["loadP50Ms"]
    assert flags["trackedEnded"] == 3  # the hot flag's two entries, and the cold flag
    assert flags["expiredWhileHot"] == 0.3333
    assert flags["expired"] == 0.3333
    assert flags["invalidatedBeforeExpiry"] == 0.3333
    assert flags["neverRead"] == 0.6667
    hot = {entry["key"]: entry["reads"] for entry in stats["hotKeys"]}
    assert hot[read_then_changed.key] == 6  # 1 miss + 5 hits, over both instances
    assert hot[hot_flag.key] == 4
    assert stats["hotKeys"][0]["key"] == read_then_changed.key
    assert stats["ttlAdvice"]["meeting_details"]["currentSeconds"] == 900
    assert (await a.get_dashboard())["instances"] == []  # not started: no instance (a CLI)
    assert "too few observations" in stats["ttlAdvice"]["meeting_details"]["reason"]


async def test_reads_flushed_before_their_fill_still_count(make_cache: MakeCache) -> None:
    """Instances flush independently: a reader's flush may reach Redis before the filler's."""
    filler = await make_cache(options=EXACT, start=False)
    reader = await make_cache(options=EXACT, start=False)
    key = keys.meeting_details(uuid.uuid4())
    await filler.get_or_load(key, Loader({"m": 1}))
    for _ in range(3):
        await reader.get_or_load(key, Loader({"m": 1}))
    await flush(reader)  # the reads first
    await filler.invalidate(key)
    await flush(filler)  # then the fill and its invalidation
    await asyncio.sleep(0.6)
    figures = (await filler.get_cache_stats())["families"]["meeting_details"]
    assert figures["trackedEnded"] == 1
    assert figures["neverRead"] == 0.0


async def test_hot_session_ids_are_masked_as_in_the_op_log(make_cache: MakeCache) -> None:
    cache = await make_cache(options=EXACT, start=False)
    session = f"secret-session-{uuid.uuid4().hex}"
    key = keys.public_user(session)
    for _ in range(3):
        await cache.get_or_load(key, Loader({"name": "guest"}))
    await flush(cache)
    stats = await cache.get_cache_stats()
    [entry] = [e for e in stats["hotKeys"] if e["family"] == "public_user"]
    assert entry["key"] == keys.display_key(key.key)
    assert session not in str(stats)


async def test_many_readers_while_flushing_lose_and_double_nothing(
    make_cache: MakeCache,
) -> None:
    a = await make_cache(options=EXACT, start=False)
    b = await make_cache(options=EXACT, start=False)
    hot_key = keys.user_profile(uuid.uuid4())
    await a.get_or_load(hot_key, Loader({"u": 1}))
    stop = asyncio.Event()

    async def flusher(cache: CacheRepository) -> None:
        while not stop.is_set():
            await engine_of(cache).flush_analytics()
            await asyncio.sleep(0)

    async def reader(cache: CacheRepository) -> None:
        for _ in range(50):
            await cache.get_or_load(hot_key, Loader({"u": 1}))

    flushers = [asyncio.create_task(flusher(c)) for c in (a, a, b)]
    await asyncio.gather(*(reader(c) for c in (a, b) for _ in range(20)))
    stop.set()
    await asyncio.gather(*flushers)
    await flush(a, b)
    stats = await a.get_cache_stats()
    hot = {e["key"]: e["reads"] for e in stats["hotKeys"]}
    assert hot[hot_key.key] == 1 + 2 * 20 * 50
    await a.invalidate(hot_key)
    await flush(a)
    await asyncio.sleep(0.6)  # the grace for reads not yet flushed
    stats = await a.get_cache_stats()
    assert stats["families"]["user_profile"]["trackedEnded"] == 1
    assert stats["families"]["user_profile"]["neverRead"] == 0.0


async def test_redis_down_and_restarted_analytics_never_fail_a_read(
    make_cache: MakeCache, own_redis: EmbeddedRedis
) -> None:
    cache = await make_cache(own_redis.url, options=EXACT)
    key = keys.meeting_details(uuid.uuid4())
    loader = Loader({"name": "m"})
    await cache.get_or_load(key, loader)
    own_redis.stop()
    for _ in range(20):  # served by the loader; the flushes fail meanwhile
        assert await cache.get_or_load(key, loader) == {"name": "m"}
    await asyncio.sleep(1.5)
    own_redis.start()

    async def counted() -> bool:
        await cache.get_or_load(key, loader)
        stats = await cache.get_cache_stats()
        hot = {e["key"]: e["reads"] for e in stats["hotKeys"]}
        return stats["source"] == "redis" and hot.get(key.key, 0) >= 2

    assert await eventually(counted, within=20)
    figures = (await cache.get_cache_stats())["families"]["meeting_details"]
    assert figures["loadP50Ms"] is not None


async def test_a_million_distinct_keys_keep_the_tables_at_their_bound(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    options = CacheOptions(life_sample=1, hot_sample=4, life_cap=500, hot_capacity=64,
                           analytics_max_events=1000)  # fmt: skip
    cache = await make_cache(options=options, start=False)
    engine = engine_of(cache)
    meter, recorder = engine.meter, engine.recorder
    ttl = engine.fill.ttl_ms["meeting_details"]
    for i in range(1_000_000):
        name = f"meeting:details:{i:032x}"
        if i % 2:
            meter.filled(name, "meeting_details", ttl, ttl, None)
        else:
            meter.read(name)
        if i % 100_000 == 0:
            assert len(recorder.events) <= 1000
            assert len(recorder.hot) <= 1000
            assert len(recorder.reads) <= 2000
            await engine.flush_analytics()
    await engine.flush_analytics()
    assert await clean_redis.zcard(DUE) <= 500
    assert await clean_redis.hlen(LIFE) <= 500
    assert await clean_redis.zcard(HOT) <= 64
    stats = await cache.get_cache_stats()
    assert len(stats["hotKeys"]) <= 20
    dropped: Any = await clean_redis.hget("{cache:analytics}:counters", "dropped")
    assert int(dropped) > 0  # what exceeded the bounds is counted, not kept


@pytest.mark.parametrize("l1", [False, True])
async def test_reads_through_either_tier_count_for_the_entry(
    make_cache: MakeCache, l1: bool
) -> None:
    cache = await make_cache(options=EXACT, gomeet_cache_l1=l1)
    if l1:
        assert await eventually(lambda: _live(cache))
    key = keys.participant_list(uuid.uuid4())
    await cache.get_or_load(key, Loader([1]))
    for _ in range(4):
        await cache.get_or_load(key, Loader([1]))
    await cache.invalidate(key)
    await flush(cache)
    await asyncio.sleep(0.6)
    figures = (await cache.get_cache_stats())["families"]["participant_list"]
    assert figures["trackedEnded"] == 1 and figures["neverRead"] == 0.0
    assert figures["l1HitRatio"] == (0.8 if l1 else 0.0)
    assert figures["redisHitRatio"] == (0.0 if l1 else 0.8)


async def _live(cache: CacheRepository) -> bool:
    return bool((await cache.health_check())["l1"]["live"])
