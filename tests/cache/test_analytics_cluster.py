"""Analytics and applied TTLs on a real Redis Cluster: every analytics key shares one hash
tag, so its pipelines and scripts run on one node (the cluster: tests/support/cluster.py)."""

from __future__ import annotations

import asyncio
import uuid

from cache_helpers import Loader
from redis.asyncio.cluster import RedisCluster

from gomeet.cache import CacheOptions, Family, build_cache, keys
from gomeet.config import Settings
from gomeet.redis_client import create_redis


async def test_analytics_and_applied_ttls_on_a_cluster(cluster_url: str) -> None:
    """Every analytics key shares one hash tag: its pipelines and scripts run on one node."""
    settings = Settings(_env_file=None, environment="test", redis_cluster_url=cluster_url)
    options = CacheOptions(life_sample=1, hot_sample=1, life_grace=0.2)
    raw = RedisCluster.from_url(cluster_url)
    await raw.flushall()
    await raw.aclose()
    clients = [create_redis(settings) for _ in range(2)]
    first, second = (build_cache(settings, client, options) for client in clients)
    try:
        key = keys.meeting_details(uuid.uuid4())
        await first.get_or_load(key, Loader({"m": 1}, delay=0.01))
        for _ in range(3):
            await second.get_or_load(key, Loader({"m": 1}))
        await second.invalidate(key)
        for cache in (first, second):
            assert cache.engine is not None
            await cache.engine.flush_analytics()
        await asyncio.sleep(0.3)
        stats = await first.get_cache_stats()
        figures = stats["families"]["meeting_details"]
        assert figures["trackedEnded"] == 1 and figures["invalidatedBeforeExpiry"] == 1.0
        assert figures["neverRead"] == 0.0 and figures["loadP50Ms"] > 0
        assert stats["hotKeys"][0] == {"key": key.key, "reads": 4, "family": "meeting_details"}
        assert stats["errors"] == 0
        await first.apply_ttl(Family.FEATURE_FLAG, 600, "ops")
        assert second.engine is not None
        await second.engine.flush_analytics()
        assert second.engine.fill.ttl_ms["feature_flag"] == 600_000
    finally:
        for cache in (first, second):
            await cache.aclose()
        for client in clients:
            await client.aclose()
