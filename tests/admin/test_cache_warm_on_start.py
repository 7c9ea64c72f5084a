"""`CACHE_WARM_ON_START`: one background warming when the app starts (default off)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from admin_helpers import build_world, cached_keys
from redis.asyncio import Redis

WARM_TASK = "gomeet-cache-warm"


def warm_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == WARM_TASK]


async def test_the_cache_is_warmed_in_the_background_at_startup(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    async with app_client() as client:
        assert warm_tasks() == []  # off by default
        world = await build_world(client)
    await clean_redis.flushdb()

    async with app_client(cache_warm_on_start=True) as client:
        (task,) = warm_tasks()
        await task  # the app serves meanwhile; wait for the job itself
        response = await client.get("/api/health")
        assert response.status_code == 200
        warmed = await cached_keys(clean_redis)

    assert {
        f"user:profile:{world.host['id']}",
        f"meeting:upcoming:{world.host['id']}:limit:5",
        f"meeting:details:{world.meeting_id}",
        f"meeting:participants:{world.meeting_id}",
        "feature_flag:use_webrtc_mesh",
    } <= warmed
