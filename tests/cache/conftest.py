"""Fixtures for the cache layer's own tests: real Redis, no database.

`make_cache(**settings)` builds a started CacheRepository on the session's Redis (or on a
given `url`), as an app's lifespan would. Everything built is closed at the end of the test.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog
from cache_helpers import MakeCache, cache_settings, free_port
from redis.asyncio import Redis

from gomeet.cache import CacheOptions, CacheRepository, build_cache
from gomeet.embedded import EmbeddedRedis
from gomeet.redis_client import create_redis


@pytest.fixture
async def make_cache(redis_url: str, clean_redis: Redis) -> AsyncIterator[MakeCache]:
    made: list[tuple[CacheRepository, Redis]] = []

    async def make(
        url: str | None = None,
        *,
        options: CacheOptions | None = None,
        start: bool = True,
        **overrides: Any,
    ) -> CacheRepository:
        settings = cache_settings(url or redis_url, **overrides)
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
