"""GET /api/health checks the real database and Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx


def assert_component(component: dict[str, Any], status: str) -> None:
    assert component["status"] == status
    assert isinstance(component["latencyMs"], int | float)
    assert component["latencyMs"] >= 0


async def test_healthy_when_database_and_redis_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["status"] == "ok"
    assert_component(body["data"]["database"], "up")
    assert_component(body["data"]["cache"], "up")
    assert response.headers["x-request-id"]


async def test_degraded_but_200_when_redis_is_down(app_client: Callable[..., Any]) -> None:
    async with app_client(redis_url="redis://127.0.0.1:1/0") as client:
        response = await client.get("/api/health")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "degraded"
    assert_component(data["database"], "up")
    assert_component(data["cache"], "down")
    assert data["cache"]["error"]


async def test_down_with_503_when_the_database_does_not_answer(
    app_client: Callable[..., Any],
) -> None:
    dead_database = "postgresql+asyncpg://gomeet:hunter2@127.0.0.1:1/gomeet"
    async with app_client(database_url=dead_database) as client:
        response = await client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["data"]["status"] == "down"
    assert_component(body["data"]["database"], "down")
    assert_component(body["data"]["cache"], "up")
    assert "hunter2" not in response.text


async def test_liveness_is_200_with_the_database_and_redis_both_down(
    app_client: Callable[..., Any],
) -> None:
    """The liveness probe never fails over a dependency: an outage restarts no process."""
    async with app_client(
        database_url="postgresql+asyncpg://gomeet@127.0.0.1:1/gomeet",
        redis_url="redis://127.0.0.1:1/0",
    ) as client:
        readiness = await client.get("/api/health")
        liveness = await client.get("/api/health/live")
    assert readiness.status_code == 503
    assert liveness.status_code == 200
    assert liveness.json() == {"success": True, "data": {"status": "ok"}, "message": "alive"}
