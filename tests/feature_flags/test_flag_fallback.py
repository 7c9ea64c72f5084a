"""With the database (and Redis) unreachable, `/feature-flags/config` still serves the known
flags' defaults to the holder of a correctly signed access token; other authenticated
endpoints answer a clean 503, and a bad token is still a 401."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from gomeet.cache import CacheRepository
from gomeet.db import UnitOfWork, create_engine, make_sessionmaker
from gomeet.feature_flags.models import KNOWN_FLAG_DEFAULTS
from gomeet.feature_flags.service import FeatureFlagService
from helpers import API, bearer, register

DEAD_DATABASES = [
    "postgresql+asyncpg://postgres@127.0.0.1:1/none",
    "sqlite+aiosqlite:////nonexistent-dir/gomeet.db",
]
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.mark.parametrize("database_url", DEAD_DATABASES)
async def test_service_serves_defaults_when_the_database_fails(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            uow = UnitOfWork(session)
            service = FeatureFlagService(uow=uow, cache=CacheRepository())
            assert await service.config() == KNOWN_FLAG_DEFAULTS
            await uow.commit()  # the request still ends cleanly
    finally:
        await engine.dispose()


def _dead_database_like(database_url: str) -> str:
    return DEAD_DATABASES[1] if database_url.startswith("sqlite") else DEAD_DATABASES[0]


async def test_config_answers_defaults_with_the_database_down_and_the_profile_cached(
    app_client: Callable[..., Any], database_url: str
) -> None:
    async with app_client() as live:
        data = await register(live)
        token = data["accessToken"]
        assert (await live.get(f"{API}/auth/me", headers=bearer(token))).status_code == 200
    # Another instance, same Redis (holding the caller's profile), its database unreachable.
    async with app_client(database_url=_dead_database_like(database_url)) as client:
        response = await client.get(f"{API}/feature-flags/config", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": KNOWN_FLAG_DEFAULTS, "message": "OK"}


async def test_config_answers_defaults_with_the_database_down_and_the_profile_not_cached(
    app_client: Callable[..., Any], clean_redis: Redis, database_url: str
) -> None:
    async with app_client() as live:
        token = (await register(live))["accessToken"]
    await clean_redis.flushdb()  # who the caller is could only be checked in the database
    async with app_client(database_url=_dead_database_like(database_url)) as client:
        response = await client.get(f"{API}/feature-flags/config", headers=bearer(token))
        me = await client.get(f"{API}/auth/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["data"] == KNOWN_FLAG_DEFAULTS
    # Anything private still needs the user store: a clean 503, never a 500.
    assert me.status_code == 503
    assert me.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert me.headers["x-request-id"]


async def test_config_answers_defaults_with_the_database_and_redis_both_down(
    app_client: Callable[..., Any], database_url: str
) -> None:
    async with app_client() as live:
        token = (await register(live))["accessToken"]
    dead = {"database_url": _dead_database_like(database_url), "redis_url": DEAD_REDIS}
    async with app_client(**dead) as client:
        response = await client.get(f"{API}/feature-flags/config", headers=bearer(token))
        forged = await client.get(f"{API}/feature-flags/config", headers=bearer(token + "x"))
        anonymous = await client.get(f"{API}/feature-flags/config")
    assert response.status_code == 200
    assert response.json()["data"] == KNOWN_FLAG_DEFAULTS
    assert forged.status_code == 401
    assert anonymous.status_code == 401
