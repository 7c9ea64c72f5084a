"""Fixtures for the cache layer's own tests: real Redis, no database.

`make_cache(**settings)` builds a started CacheRepository on the session's Redis (or on a
given `url`, or the deployment of `cache_backend`), as an app's lifespan would, its pool
opened on demand (`support.apps.COLD_POOL`). Everything built is closed at the end of the
test.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog
from cache_helpers import MakeCache, free_port
from redis.asyncio import Redis

from gomeet.cache import CacheOptions, CacheRepository, build_cache
from gomeet.config import Settings
from gomeet.embedded import EmbeddedRedis
from gomeet.redis_client import create_redis
from support.apps import COLD_POOL


@pytest.fixture
def cache_backend(redis_url: str) -> dict[str, Any]:
    """The settings that select the Redis deployment of `make_cache` (test_contract.py
    runs its tests on each deployment by overriding this)."""
    return {"redis_url": redis_url}


@pytest.fixture
async def make_cache(cache_backend: dict[str, str], clean_redis: Redis) -> AsyncIterator[MakeCache]:
    made: list[tuple[CacheRepository, Redis]] = []

    async def make(
        url: str | None = None,
        *,
        options: CacheOptions | None = None,
        start: bool = True,
        **overrides: Any,
    ) -> CacheRepository:
        backend = cache_backend if url is None else {"redis_url": url}
        values = {**COLD_POOL, **backend, **overrides}
        settings = Settings(_env_file=None, environment="test", **values)
        redis = create_redis(settings)
        cache = build_cache(settings, redis, options)
        if start:
            await cache.start()
        made.append((cache, redis))
        return cache

    yield make
    for cache, redis in made:
        await cache.aclose()
        await redis.aclose()


@pytest.fixture
def own_redis() -> Iterator[EmbeddedRedis]:
    """A private redis-server on a fixed TCP port, which a test may stop and start again."""
    server = EmbeddedRedis(port=free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def info_logs() -> Iterator[None]:
    """Let info records through (the test apps configure WARNING), restoring afterwards."""
    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            structlog.configure(wrapper_class=before["wrapper_class"])
