"""`cache:stats` counts exactly what two instances served to 50 concurrent clients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from admin.admin_helpers import ADMIN_CACHE, make_admin
from helpers import API, bearer, login
from meetings.meeting_helpers import MEETINGS, create_meeting, data_of, new_user
from support.apps import WARM_POOL

CLIENTS = 50  # on two instances, as deployed: the pool open at start (WARM_POOL)
MEMBERS = 4


async def flush(*clients: httpx.AsyncClient) -> None:
    for client in clients:
        assert await client.app.state.cache.flush_stats(force=True)  # type: ignore[attr-defined]


def counts(raw: dict[bytes, bytes]) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in raw.items() if k != b"last_updated"}


@pytest.mark.parametrize("l1", [False, True], ids=["l1-off", "l1-on"])
async def test_exact_counts_after_fifty_concurrent_clients_on_two_instances(
    app_client: Callable[..., Any], clean_redis: Redis, l1: bool
) -> None:
    instance = {"gomeet_cache_l1": l1, **WARM_POOL}
    async with app_client(**instance) as a, app_client(**instance) as b:
        _, host = await new_user(a)
        meeting = await create_meeting(a, host, "Crowd")
        path = f"{MEETINGS}/{meeting['id']}"
        callers = [host]
        for _ in range(MEMBERS):
            member, auth = await new_user(a)
            data_of(await a.post(f"{path}/join", headers=auth))
            callers.append(bearer((await login(a, member["email"]))["accessToken"]))
        for auth in callers:  # every caller's profile in the cache
            data_of(await b.get(f"{API}/auth/me", headers=auth))
        await flush(a, b)
        await clean_redis.delete("cache:stats")

        # A known warm-up: a miss (and a fill) through A, then a hit through B.
        first = data_of(await a.get(path, headers=host))
        data_of(await b.get(path, headers=host))
        # 50 concurrent clients, alternately on A and B, the five callers in turn.
        responses = await asyncio.gather(
            *((a, b)[i % 2].get(path, headers=callers[i % len(callers)]) for i in range(CLIENTS))
        )
        assert [data_of(r) for r in responses] == [first] * CLIENTS
        # A write through B deletes the cached meeting; the next read through A misses.
        data_of(await b.put(path, json={"name": "Crowd 2"}, headers=host))
        assert data_of(await a.get(path, headers=host))["name"] == "Crowd 2"
        await flush(a, b)
        stats = counts(await clean_redis.hgetall("cache:stats"))

    requests = 2 + CLIENTS + 2  # each reads the caller's profile: all hits
    meeting_reads = 2 + CLIENTS + 1  # two of them missed: the first and the one after the write
    assert stats["user_profile:hits"] == requests
    assert "user_profile:misses" not in stats
    assert stats["meeting_details:hits"] == meeting_reads - 2
    assert stats["meeting_details:misses"] == 2
    assert stats["meeting_details:sets"] == 2
    assert stats["meeting_details:loads"] == 2
    assert stats["meeting_details:deletes"] == 1
    assert stats["hits"] == requests + meeting_reads - 2
    assert stats["misses"] == 2
    assert stats["sets"] == 2
    assert stats["deletes"] == 1
    assert stats.get("errors", 0) == 0
    assert await clean_redis.hget("cache:stats", "last_updated")


async def test_concurrent_stats_requests_count_every_read_once(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    """`GET /admin/cache/stats` flushes this instance's counts first; concurrent requests
    (and the background flush) must not send the same counts twice."""
    async with app_client(**WARM_POOL) as client:
        await count_concurrent_stats_requests(client, clean_redis)


async def count_concurrent_stats_requests(client: httpx.AsyncClient, clean_redis: Redis) -> None:
    _, admin = await make_admin(client)
    _, host = await new_user(client)
    meeting = await create_meeting(client, host, "Stats")
    path = f"{MEETINGS}/{meeting['id']}"
    for auth in (admin, host):
        data_of(await client.get(f"{API}/auth/me", headers=auth))
    data_of(await client.get(path, headers=host))
    await flush(client)
    await clean_redis.delete("cache:stats")

    for _ in range(10):  # 10 profile hits and 10 meeting hits, not yet flushed
        data_of(await client.get(path, headers=host))
    responses = await asyncio.gather(
        *(client.get(f"{ADMIN_CACHE}/stats", headers=admin) for _ in range(CLIENTS))
    )
    for response in responses:
        data_of(response)
    await flush(client)
    stats = counts(await clean_redis.hgetall("cache:stats"))
    assert stats["meeting_details:hits"] == 10
    assert stats["user_profile:hits"] == 10 + CLIENTS  # each stats request read the admin
    assert stats["hits"] == 20 + CLIENTS
