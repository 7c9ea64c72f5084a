"""The cache health check.

Guarantees: it tests connectivity with a write/read/delete round trip on a key unique to
each probe, cleans up after itself, and reports `status` (ok, down, disabled), the latency
and the error; it never raises.
"""

from __future__ import annotations

import asyncio

from cache_helpers import MakeCache
from redis.asyncio import Redis


async def test_healthy(make_cache: MakeCache, clean_redis: Redis) -> None:
    cache = await make_cache()

    reports = await asyncio.gather(*(cache.health_check() for _ in range(20)))

    for report in reports:
        assert report["status"] == "ok"
        assert report["error"] is None
        assert isinstance(report["latencyMs"], float) and report["latencyMs"] >= 0
        assert report["circuit"] == "closed"
    assert await clean_redis.keys("cache:health:*") == []


async def test_unreachable(make_cache: MakeCache) -> None:
    cache = await make_cache("redis://127.0.0.1:1/0")

    report = await cache.health_check()

    assert report["status"] == "down"
    assert report["error"]
    assert isinstance(report["latencyMs"], float)


async def test_disabled(make_cache: MakeCache) -> None:
    cache = await make_cache(gomeet_cache=False)

    assert (await cache.health_check())["status"] == "disabled"
