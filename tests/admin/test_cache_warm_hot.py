"""Warming from what was hot: the hot-key record (in Redis, it outlives the instances)
is warmed first, each key through the service read that fills it, by the API, by
`gomeet cache warm --hot` (with a progress bar) and at start-up (`CACHE_WARM_ON_START`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
from admin_helpers import ADMIN_CACHE, build_world, cached_keys, data_of, make_admin
from redis.asyncio import Redis
from test_cache_cli import cli_env, invoke  # noqa: F401 - the fixture and the runner

from gomeet.cache import keys
from helpers import API

WARM_TASK = "gomeet-cache-warm"
# One read in about 16 is sampled for the hot keys, across all keys: 200 rounds of these 5
# reads (the signed-in ones read the caller's profile too) give each key ~40 samples.
READS = 200


async def make_hot(client: httpx.AsyncClient) -> tuple[set[str], dict[str, str]]:
    """Reads the fixed warming list never covers, repeated: the keys they fill."""
    _, admin = await make_admin(client)
    world = await build_world(client)
    hosted = f"{API}/meetings?page=2&limit=5&search=Plan"
    past = f"{API}/meetings/past?page=1&limit=3"
    guest = f"{API}/public-users/session/{world.session_id}"
    for _ in range(READS):
        assert (await client.get(hosted, headers=world.host_auth)).status_code == 200
        assert (await client.get(past, headers=world.host_auth)).status_code == 200
        assert (await client.get(guest)).status_code == 200
    await client.app.state.cache.engine.flush_analytics()  # type: ignore[attr-defined]
    host = world.host["id"]
    return {
        keys.meeting_list(host, 2, 5, "Plan").key,
        keys.meeting_past(host, 1, 3).key,
        keys.public_user(world.session_id).key,
    }, admin


async def test_the_api_warms_the_hot_keys_first_through_the_services(
    client: httpx.AsyncClient, clean_redis: Redis
) -> None:
    hot, admin = await make_hot(client)
    data_of(await client.delete(ADMIN_CACHE, headers=admin))  # values gone, the record stays
    assert not hot & await cached_keys(clean_redis)

    report = data_of(
        await client.post(f"{ADMIN_CACHE}/warm", json={"maxHotKeys": 50}, headers=admin)
    )
    assert report["hotKeys"] >= 3
    assert hot <= await cached_keys(clean_redis)
    stats = data_of(await client.get(f"{ADMIN_CACHE}/stats", headers=admin))
    shown = {e["key"] for e in stats["hotKeys"]}
    [guest] = [name for name in hot if name.startswith("public_user:")]
    assert keys.display_key(guest) in shown and guest not in shown  # masked as in the op log


async def test_the_cli_warms_the_hot_keys_with_a_progress_bar(
    client: httpx.AsyncClient,
    clean_redis: Redis,
    cli_env: None,  # noqa: F811
) -> None:
    hot, admin = await make_hot(client)
    data_of(await client.delete(ADMIN_CACHE, headers=admin))
    result = await invoke("warm", "--hot", "--rate", "500", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["hotKeys"] >= 3
    assert hot <= await cached_keys(clean_redis)
    table = await invoke("warm", "--hot")
    assert table.exit_code == 0, table.output
    assert "hot keys" in table.stdout


async def test_start_up_warming_begins_with_the_keys_that_were_hot(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    async with app_client() as client:
        hot, _ = await make_hot(client)
    for name in hot:  # the values are gone (a restart of Redis without them, say)
        await clean_redis.delete(name)

    async with app_client(cache_warm_on_start=True) as client:
        (task,) = [t for t in asyncio.all_tasks() if t.get_name() == WARM_TASK]
        await task
        assert hot <= await cached_keys(clean_redis)
