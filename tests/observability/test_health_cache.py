"""The cache part of GET /api/health is the cache layer's own health check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from redis.asyncio import Redis

HEALTH_CHECKS = 'gomeet_cache_operation_seconds_count{op="health_check"}'


async def health_checks_run(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    line = next(line for line in text.splitlines() if line.startswith(HEALTH_CHECKS))
    return float(line.split()[-1])


async def test_health_runs_the_cache_round_trip_and_leaves_no_key(
    client: httpx.AsyncClient, clean_redis: Redis
) -> None:
    before = await health_checks_run(client)
    response = await client.get("/api/health")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "ok"
    assert data["cache"]["status"] == "up"
    assert data["cache"]["circuit"] == "closed"
    assert await health_checks_run(client) == before + 1
    assert await clean_redis.keys("cache:health:*") == []


async def test_a_dead_redis_degrades_without_revealing_its_address(
    app_client: Callable[..., Any],
) -> None:
    async with app_client(redis_url="redis://127.0.0.1:1/0") as client:
        response = await client.get("/api/health")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "degraded"
    assert data["cache"]["status"] == "down"
    assert data["cache"]["error"]
    assert "127.0.0.1" not in response.text


async def test_with_the_cache_off_redis_is_still_checked(app_client: Callable[..., Any]) -> None:
    async with app_client(gomeet_cache=False) as client:
        data = (await client.get("/api/health")).json()["data"]
    assert data["status"] == "ok"
    assert data["cache"]["status"] == "up"
    assert data["cache"]["enabled"] is False
    async with app_client(gomeet_cache=False, redis_url="redis://127.0.0.1:1/0") as client:
        data = (await client.get("/api/health")).json()["data"]
    assert data["status"] == "degraded"
    assert data["cache"]["status"] == "down"
