"""What one client can make the server hold is bounded.

- the in-process tier (cache/local.py) stays under its byte and entry bounds while a
  client reads a million distinct keys, and its owner-index map does not outgrow it;
- one client spraying distinct `search`, `page` and `limit` values over the four list
  endpoints cannot grow Redis past the documented bound (README, "bounded per client"):
  the first `MAX_CACHED_PAGE` pages only, at most `max_list_pages` (64) pages per owner and
  family in a capped owner index, each value at most `max_value_bytes`.

WebSocket floods, oversize frames and slow consumers are cut off as CONTRACT §6.9 says in
tests/signaling/test_protocol.py (`test_an_oversize_frame_closes_with_1009_…`,
`test_a_flood_is_refused_then_closed_with_1008_…`, `test_a_slow_consumer_is_evicted_…`)
and tests/signaling/test_handshake.py (participant limit, handshake rate limit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from redis.asyncio import Redis

from gomeet.cache import CacheOptions, Family, keys
from gomeet.cache.local import LocalTier
from helpers import API, bearer, register_user
from meetings.meeting_helpers import create_meeting

READS = 1_000_000
MAX_BYTES = 256 * 1024
MAX_ITEMS = 10_000
LISTS = {
    Family.MEETING_LIST: "meetings",
    Family.MEETING_PAST: "meetings/past",
    Family.MEETING_JOINED: "meetings/joined",
    Family.MEETING_UPCOMING: "meetings/upcoming",
}


def test_the_in_process_tier_stays_bounded_over_a_million_distinct_reads() -> None:
    tier = LocalTier(max_items=MAX_ITEMS, max_bytes=MAX_BYTES, ttl=3600)
    tier.live = True
    peak_bytes = peak_items = misses = 0
    for n in range(READS):
        # Sizes vary (16 B to ~2 KiB) and a third are list pages of 1,000 owners.
        name = f"meeting:details:{n}"
        if tier.get(name) is None:
            misses += 1
            size = 16 + (n * 7919) % 2048
            owner = f"index:meeting_list:{n % 1000}" if n % 3 == 0 else None
            tier.put(name, {"n": n}, owner, size, tier.seq)
        peak_bytes, peak_items = max(peak_bytes, tier.bytes), max(peak_items, len(tier))
    assert misses == READS  # every key distinct: the worst case for the tier
    assert peak_bytes <= MAX_BYTES
    assert peak_items <= MAX_ITEMS
    # The accounting is the truth: the bytes counted are the entries' sizes.
    assert tier.bytes == sum(entry.size for entry in tier.data.values())
    indexed = sum(len(members) for members in tier._by_index.values())
    assert indexed == sum(1 for entry in tier.data.values() if entry.owner is not None)
    print(
        f"\nin-process tier: {READS:,} distinct keys read, peak {peak_bytes:,} B of "
        f"{MAX_BYTES:,}, peak {peak_items:,} entries; {len(tier._by_index)} owner indexes"
    )


async def test_one_client_spraying_search_page_and_limit_cannot_grow_redis_past_the_bound(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    options = CacheOptions()
    sprays = 300
    async with app_client() as client:
        user, token, _ = await register_user(client)
        auth = bearer(token)
        for n in range(3):
            await create_meeting(client, auth, f"Standup {n}")
        before = await clean_redis.info("memory")
        for n in range(sprays):
            page, limit = 1 + (n * 37) % 40, 1 + (n * 13) % 100  # pages past 10 included
            query = {"page": str(page), "limit": str(limit)}
            searched = {"search": f"term {n} " + "x" * (n % 90), **query}
            for family, path in LISTS.items():
                params = searched if family is Family.MEETING_LIST else query
                if family is Family.MEETING_UPCOMING:
                    params = {"limit": str(limit)}
                response = await client.get(f"{API}/{path}", params=params, headers=auth)
                assert response.status_code == 200, response.text
        after = await clean_redis.info("memory")

    owner = user["id"]
    total_keys, total_bytes = 0, 0
    for family in LISTS:
        index = keys.index_key(family, owner)
        assert await clean_redis.zcard(index) <= options.max_list_pages
        pages = [k async for k in clean_redis.scan_iter(match=f"{keys.PREFIXES[family]}{owner}:*")]
        assert len(pages) <= options.max_list_pages, family
        for page in pages:
            value = await clean_redis.get(page)
            assert value is not None and len(value) <= options.max_value_bytes
            total_bytes += len(value)
            orjson.loads(value)
        total_keys += len(pages)
    assert total_keys <= len(LISTS) * options.max_list_pages
    # Nothing else grows with the inputs: the indexes, the profile, the stats, and the
    # analytics (fixed keys, a page set per owner index, a slot per 5 s), each capped.
    everything = [k.decode() async for k in clean_redis.scan_iter(count=1000)]
    analytics = [k for k in everything if k.startswith("{cache:analytics}")]
    assert len(everything) - len(analytics) <= total_keys + len(LISTS) + 2
    assert len(analytics) <= 40
    for key in analytics:
        assert await _size(clean_redis, key) <= max(options.life_cap, options.hot_capacity), key
    grown = after["used_memory"] - before["used_memory"]
    print(
        f"\nRedis under a spray: {sprays * len(LISTS)} list requests with distinct "
        f"search/page/limit, {total_keys} pages kept (bound {len(LISTS)} x "
        f"{options.max_list_pages}), {total_bytes:,} B of values, {len(everything)} keys in "
        f"all, used_memory grew {grown:,} B"
    )


async def _size(redis: Redis, key: str) -> int:
    """Elements of a key, whatever its type (1 for a string)."""
    kind = (await redis.type(key)).decode()
    sizes = {"hash": redis.hlen, "zset": redis.zcard, "set": redis.scard, "list": redis.llen}
    return int(await sizes[kind](key)) if kind in sizes else 1
