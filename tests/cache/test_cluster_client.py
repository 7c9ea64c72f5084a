"""The cache on redis-py's asyncio cluster client, where it differs from a single server
(the cluster: tests/support/cluster.py).

Guarantee: after a lost connection the client reads the slots map again, on its next
command; nothing the cache sends runs on another event loop, so the reads after it succeed.
"""

from __future__ import annotations

import asyncio
import uuid

from cache_helpers import Loader, MakeCache
from redis.asyncio.cluster import RedisCluster

from gomeet.cache import keys
from support.apps import WARM_POOL


async def test_reads_after_a_lost_connection_and_a_stats_flush_all_succeed(
    make_cache: MakeCache, cluster_url: str
) -> None:
    """The next command was the stats flush, a MULTI/EXEC, which redis-py's cluster client
    runs on a thread with an event loop of its own: the connections it opened there stayed
    in the pool, bound to a closed loop, and the reads that took them failed."""
    outside = RedisCluster.from_url(cluster_url)
    try:
        await outside.flushall()
        cache = await make_cache(redis_cluster_url=cluster_url, **WARM_POOL)
        loader = Loader({"name": "m"})
        await cache.get_or_load(keys.meeting_details(uuid.uuid4()), loader)
        await outside.client_kill_filter(
            _type="normal", skipme=True, target_nodes=RedisCluster.PRIMARIES
        )
        await cache.get_or_load(keys.meeting_details(uuid.uuid4()), loader)  # may fail: reconnects
        assert await cache.flush_stats(force=True)
        errors = (await cache.get_cache_stats())["errors"]

        results = await asyncio.gather(
            *(cache.get_or_load(keys.meeting_details(uuid.uuid4()), loader) for _ in range(64))
        )

        assert results == [{"name": "m"}] * 64
        assert (await cache.get_cache_stats())["errors"] == errors
    finally:
        await outside.aclose()
