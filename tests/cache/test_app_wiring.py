"""The cache inside an app, and its Prometheus metrics.

Guarantees: the app's lifespan builds the cache from settings (GOMEET_CACHE=off builds one
that never touches Redis), runs its background work, and flushes its last counts to
`cache:stats` at shutdown; the cache's counts and latencies appear as CONTRACT §5 metrics.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from cache_helpers import Loader, MakeCache
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from gomeet.cache import keys
from gomeet.observability.metrics import CacheCollector, create_registry, render


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


async def test_cache_metrics(make_cache: MakeCache) -> None:
    cache = await make_cache()
    registry = create_registry()
    registry.register(CacheCollector(cache))
    key = keys.meeting_details(uuid.uuid4())
    for _ in range(3):
        await cache.get_or_load(key, Loader({"v": 1}))

    found = samples(render(registry).decode())

    family = (("family", "meeting_details"),)
    assert found["gomeet_cache_requests_total", (*family, ("result", "hit"))] == 2
    assert found["gomeet_cache_requests_total", (*family, ("result", "miss"))] == 1
    assert found["gomeet_cache_requests_total", (*family, ("result", "error"))] == 0
    assert found["gomeet_cache_loads_total", family] == 1
    assert found["gomeet_cache_operation_seconds_count", (("op", "get"),)] == 3
    assert found["gomeet_cache_operation_seconds_bucket", (("le", "+Inf"), ("op", "get"))] == 3
    assert found["gomeet_cache_circuit_open", ()] == 0


async def test_the_app_runs_the_cache_and_flushes_stats_at_shutdown(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    key = keys.user_profile(uuid.uuid4())
    async with app_client() as client:
        cache = client.app.state.cache
        assert cache.enabled
        await cache.get_or_load(key, Loader({"username": "ann"}))
        await cache.get_or_load(key, Loader({"username": "ann"}))

    assert await clean_redis.hget("cache:stats", "user_profile:hits") == b"1"
    assert await clean_redis.hget("cache:stats", "user_profile:misses") == b"1"


async def test_an_app_with_the_cache_off_never_touches_redis(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    async with app_client(gomeet_cache=False) as client:
        cache = client.app.state.cache
        loader = Loader({"v": 1})
        for _ in range(2):
            await cache.get_or_load(keys.meeting_details(uuid.uuid4()), loader)
        assert loader.calls == 2

    assert await clean_redis.keys("meeting:*") == []
    assert await clean_redis.exists("cache:stats") == 0


async def test_nothing_the_app_started_outlives_its_shutdown(
    app_client: Callable[..., Any],
) -> None:
    """Cache off, the outbox is pruned in the background (its first prune runs at once).
    When the app stops, that task has stopped too, before the engine is disposed: a prune
    cut mid-query and left to clean up later waited forever on SQLite's closed connection
    (and hung the event loop's close)."""
    before = asyncio.all_tasks()
    for _ in range(3):
        async with app_client(gomeet_cache=False):
            pass
        left = [t for t in asyncio.all_tasks() - before if not t.done()]
        assert left == [], left
