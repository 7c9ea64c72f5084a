"""What one client can make the cache hold is bounded (issue 7, defects 2, 9 and 10).

List pages: only the first `MAX_CACHED_PAGE` pages are cached, each owner index keeps at
most `max_list_pages` pages (the oldest is evicted with its page), an owner's invalidation
is one round trip whatever the owner read, and early refresh keeps a page registered. Values
over `max_value_bytes` are served, never stored. The in-process tier is bounded in bytes as
well as entries and evicts the least recently read.
"""

from __future__ import annotations

import asyncio
import uuid

from cache_helpers import Loader, MakeCache
from redis.asyncio import Redis

from gomeet.cache import CacheOptions, Family, keys


async def test_one_owners_pages_and_searches_stay_bounded(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache()
    cap = cache.options.max_list_pages
    host = uuid.uuid4()
    loader = Loader({"meetings": []})
    pages = [keys.meeting_list(host, page, 10, None) for page in range(1, 3001)]
    searches = [keys.meeting_list(host, 1, 10, f"term {n}") for n in range(300)]
    for key in [*pages, *searches]:
        await cache.get_or_load(key, loader)

    index = keys.index_key(Family.MEETING_LIST, host)
    assert await clean_redis.zcard(index) == cap
    stored = [k async for k in clean_redis.scan_iter(match=f"meeting:list:{host}:*", count=1000)]
    assert len(stored) == cap  # the 300 searches evicted the older pages
    # Pages past the cached range were read straight from the loader, never stored.
    assert await clean_redis.exists(pages[-1].key) == 0
    assert loader.calls == 3300

    await cache.invalidate_owner_lists(Family.MEETING_LIST, host)

    assert not [k async for k in clean_redis.scan_iter(match=f"meeting:list:{host}:*")]
    assert await clean_redis.exists(index) == 0


async def test_an_owners_invalidation_is_one_round_trip(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache()
    host = uuid.uuid4()
    for n in range(200):
        await cache.get_or_load(keys.meeting_list(host, 1, 10, f"q{n}"), Loader({"m": []}))
    assert cache.engine is not None
    store = cache.engine.store
    calls: list[int] = []
    original = store.redis.pipeline

    def counting_pipeline(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)

    store.redis.pipeline = counting_pipeline
    try:
        await cache.invalidate_host_lists(host)
    finally:
        store.redis.pipeline = original
    assert calls == [1]
    assert not [k async for k in clean_redis.scan_iter(match=f"meeting:list:{host}:*")]


async def test_an_early_refresh_keeps_the_page_in_its_index(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    """The index expired (or was lost) while its page lived on: refreshing the page
    registers it again, with the index outliving it, so the owner's next write finds it."""
    cache = await make_cache(options=CacheOptions(refresh_sample=1, refresh_ahead=1.0))
    user = uuid.uuid4()
    key = keys.meeting_joined(user, 1, 10)
    loader = Loader({"meetings": ["old"]})
    await cache.get_or_load(key, loader)
    await clean_redis.delete(key.index or "")

    await cache.get_or_load(key, loader)  # a sampled hit in the refresh window: refreshed

    assert loader.calls == 2
    assert await clean_redis.zscore(key.index or "", key.key) is not None
    assert await clean_redis.pttl(key.index or "") > await clean_redis.pttl(key.key)
    await cache.invalidate_joined_lists(user)
    assert await clean_redis.exists(key.key) == 0


async def test_a_value_over_the_bound_is_served_uncached(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache(options=CacheOptions(max_value_bytes=10_000))
    big, small = keys.meeting_details(uuid.uuid4()), keys.meeting_details(uuid.uuid4())
    big_loader = Loader({"blob": "x" * 20_000})

    assert await cache.get_or_load(big, big_loader) == {"blob": "x" * 20_000}
    assert await cache.get_or_load(big, big_loader) == {"blob": "x" * 20_000}
    await cache.get_or_load(small, Loader({"blob": "x"}))

    assert big_loader.calls == 2
    assert await clean_redis.exists(big.key) == 0  # no value, and no lease left behind
    assert await clean_redis.exists(small.key) == 1


async def test_the_in_process_tier_is_bounded_in_bytes_and_evicts_the_least_recently_read(
    make_cache: MakeCache,
) -> None:
    cache = await make_cache(
        gomeet_cache_l1=True, gomeet_cache_l1_ttl=600, gomeet_cache_l1_max_bytes=4096
    )
    tier = cache.l1
    assert tier is not None
    for _ in range(200):
        if tier.live:
            break
        await asyncio.sleep(0.01)
    ids = [keys.meeting_details(uuid.uuid4()) for _ in range(12)]
    for key in ids:  # 12 values of ~500 bytes: more than 4 KiB
        await cache.get_or_load(key, Loader({"v": "x" * 480}))
        await cache.get_or_load(ids[0], Loader({"v": "never"}))  # read often: kept

    assert tier.bytes <= 4096
    assert ids[0].key in tier.data
    assert ids[1].key not in tier.data  # read once, long ago: evicted
    assert ids[-1].key in tier.data
