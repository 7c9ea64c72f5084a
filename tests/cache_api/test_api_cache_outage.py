"""Redis killed under load and restarted: no request fails, caching resumes by itself;
the health checks (`/admin/cache/health`, `/api/health`) follow Redis down and back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from cache_api_helpers import count_sql, session_url, wait_until
from redis.asyncio import Redis

from admin.admin_helpers import ADMIN_CACHE, make_admin
from gomeet.embedded import EmbeddedRedis
from helpers import API
from meetings.meeting_helpers import MEETINGS, create_meeting, data_of, new_user

WORKERS = 20
REQUESTS_PER_WORKER = 25
KILL_AFTER = 100  # completed requests
RESTART_AFTER = 300


async def kill(server: EmbeddedRedis) -> None:
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    await asyncio.to_thread(server.stop)  # reaps it, removes its directory


async def restart(server: EmbeddedRedis) -> None:
    await asyncio.to_thread(server.start)  # same port


async def cached(url: str, key: str) -> bool:
    redis = Redis.from_url(url)
    try:
        return bool(await redis.exists(key))
    finally:
        await redis.aclose()


async def test_redis_killed_mid_load_then_restarted_fails_no_request_and_hits_resume(
    app_client: Callable[..., Any], own_redis: EmbeddedRedis
) -> None:
    url = own_redis.url
    async with app_client(redis_url=url) as client:
        _, auth = await new_user(client)
        meeting = await create_meeting(client, auth, "Resilient")
        path = f"{MEETINGS}/{meeting['id']}"
        expected = data_of(await client.get(path, headers=auth))
        statuses: list[int] = []
        bodies_ok: list[bool] = []
        kill_now, restart_now = asyncio.Event(), asyncio.Event()

        async def worker() -> None:
            for _ in range(REQUESTS_PER_WORKER):
                response = await client.get(path, headers=auth)
                statuses.append(response.status_code)
                bodies_ok.append(response.status_code == 200 and data_of(response) == expected)
                if len(statuses) == KILL_AFTER:
                    kill_now.set()
                elif len(statuses) == RESTART_AFTER:
                    restart_now.set()

        async def chaos() -> None:
            await kill_now.wait()
            await kill(own_redis)
            await restart_now.wait()
            await restart(own_redis)

        await asyncio.gather(chaos(), *(worker() for _ in range(WORKERS)))
        assert statuses == [200] * WORKERS * REQUESTS_PER_WORKER
        assert all(bodies_ok)
        metrics = (await client.get("/metrics")).text
        assert 'result="error"' in metrics  # Redis really was gone for some requests

        # Nobody intervenes: the key comes back and a read is served without SQL.
        key = f"meeting:details:{meeting['id']}"

        async def hits_again() -> bool:
            data_of(await client.get(path, headers=auth))
            if not await cached(url, key):
                return False
            with count_sql(client) as statements:
                data_of(await client.get(path, headers=auth))
            return statements == []

        assert await wait_until(hits_again, rounds=1000)  # about 10 s at most


async def test_health_checks_follow_redis_down_and_back(
    app_client: Callable[..., Any], own_redis: EmbeddedRedis
) -> None:
    async with app_client(redis_url=own_redis.url) as client:
        _, admin = await make_admin(client)
        data_of(await client.get(f"{API}/auth/me", headers=admin))  # the admin's profile

        async def reports() -> tuple[dict[str, Any], dict[str, Any], httpx.Response]:
            cache = data_of(await client.get(f"{ADMIN_CACHE}/health", headers=admin))
            health = await client.get("/api/health")
            return cache, health.json()["data"], health

        cache, health, response = await reports()
        assert cache["status"] == "ok" and cache["error"] is None
        assert health["status"] == "ok" and health["cache"]["status"] == "up"

        await kill(own_redis)
        cache, health, response = await reports()
        assert cache["status"] == "down" and cache["error"]
        assert response.status_code == 200  # the database still answers
        assert health["status"] == "degraded" and health["cache"]["status"] == "down"
        assert str(own_redis.port) not in response.text

        await restart(own_redis)

        async def healthy() -> bool:
            cache, health, _ = await reports()
            return bool(cache["status"] == "ok" and health["status"] == "ok")

        assert await wait_until(healthy, rounds=1000)
        redis = Redis.from_url(own_redis.url)
        try:
            assert await redis.keys("cache:health:*") == []  # every probe cleaned up
        finally:
            await redis.aclose()


@contextlib.asynccontextmanager
async def writes_paused(server: EmbeddedRedis) -> AsyncIterator[None]:
    """Redis slow for writes (CLIENT PAUSE WRITE): reads still answer, writes wait, so an
    invalidation times out while the breaker stays closed."""
    redis = Redis.from_url(server.url)
    await redis.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
    try:
        yield
    finally:
        await redis.execute_command("CLIENT", "UNPAUSE")
        await redis.aclose()


async def test_a_write_whose_invalidation_timed_out_is_not_followed_by_a_stale_read(
    app_client: Callable[..., Any], own_redis: EmbeddedRedis
) -> None:
    """The rename's invalidation is kept for replay; the reads that follow must not be
    served the cached value from before the rename."""
    url = session_url("paused-guest")
    async with app_client(redis_url=own_redis.url) as client:
        guest = {"name": "Before", "sessionId": "paused-guest"}
        data_of(await client.post(f"{API}/public-users", json=guest), 201)
        for _ in range(2):
            assert data_of(await client.get(url))["name"] == "Before"  # cached
        async with writes_paused(own_redis):
            data_of(await client.put(url, json={"name": "After"}))
            assert data_of(await client.get(url))["name"] == "After"
        assert data_of(await client.get(url))["name"] == "After"


async def test_a_logout_whose_invalidation_timed_out_still_revokes_the_token(
    app_client: Callable[..., Any], own_redis: EmbeddedRedis
) -> None:
    """The profile (with its token version) was cached; logging out must revoke the token
    at once even though the profile's invalidation could not reach Redis."""
    async with app_client(redis_url=own_redis.url) as client:
        _, auth = await new_user(client)
        for _ in range(2):
            data_of(await client.get(f"{API}/auth/me", headers=auth))  # cached
        async with writes_paused(own_redis):
            data_of(await client.post(f"{API}/auth/logout", headers=auth))
            assert (await client.get(f"{API}/auth/me", headers=auth)).status_code == 401
        assert (await client.get(f"{API}/auth/me", headers=auth)).status_code == 401


async def test_a_lone_instance_that_wrote_while_redis_was_down_resumes_caching(
    app_client: Callable[..., Any], own_redis: EmbeddedRedis
) -> None:
    """Its write's invalidation is owed (the breaker stays open until it is applied); the
    probe must be able to apply it, with no other instance to drain it."""
    async with app_client(redis_url=own_redis.url) as client:
        _, auth = await new_user(client)
        meeting = await create_meeting(client, auth, "Before")
        path = f"{MEETINGS}/{meeting['id']}"
        data_of(await client.get(path, headers=auth))  # cached
        await kill(own_redis)
        renamed = await client.put(path, json={"name": "After"}, headers=auth)
        assert data_of(renamed)["name"] == "After"
        await restart(own_redis)

        async def resumed() -> bool:
            assert data_of(await client.get(path, headers=auth))["name"] == "After"
            return await cached(own_redis.url, f"meeting:details:{meeting['id']}")

        assert await wait_until(resumed, rounds=1000)  # about 10 s at most
