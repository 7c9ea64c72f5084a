"""The cache's contract, on every Redis deployment the app supports: a standalone server
(REDIS_URL), a three-node Redis Cluster (REDIS_CLUSTER_URL) and a master with a replica
behind three sentinels (REDIS_SENTINEL_URL). Each test here runs once per deployment: the
`make_cache` fixture (tests/cache/conftest.py) builds the caches on, and `clean_redis` reads
from, the deployment of this module's `cache_backend` parameter.

Guarantees, on each: the fill path (a miss loads once, later reads hit; the stored value is
plain JSON; TTLs within 10 % below nominal); owner-index invalidation (a cluster keeps an
index and its pages in other slots); leases (a fill that read the database before an
invalidation never stores); stampede (concurrent readers of one key on two instances, one
load; a burst right after start sets up no connection); the in-process tier's
invalidation over pub/sub; pattern deletion; the health probe; exact stats summed over two
instances in `cache:stats`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from cache_helpers import Loader, MakeCache, eventually, l1_live
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from gomeet.cache import CacheKey, keys
from gomeet.config import Settings
from gomeet.redis_client import create_redis
from helpers import NOMINAL_TTL
from support.apps import WARM_POOL

BACKENDS = ("standalone", "cluster", "sentinel")


@pytest.fixture(params=BACKENDS)
def cache_backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings that select the deployment (each one started once per session), and the
    product's pool warm-up: this is the deployment's contract."""
    if request.param == "standalone":
        return {**WARM_POOL, "redis_url": request.getfixturevalue("redis_url")}
    if request.param == "cluster":
        return {**WARM_POOL, "redis_cluster_url": request.getfixturevalue("cluster_url")}
    return {**WARM_POOL, "redis_sentinel_url": request.getfixturevalue("sentinel").url}


@pytest.fixture
async def clean_redis(cache_backend: dict[str, Any]) -> AsyncIterator[Any]:
    """A plain client of the deployment (a cluster client on a cluster), emptied first."""
    if "redis_cluster_url" in cache_backend:
        client: Any = RedisCluster.from_url(cache_backend["redis_cluster_url"])
        await client.flushall()
    else:
        client = create_redis(Settings(_env_file=None, environment="test", **cache_backend))
        await client.flushdb()
    yield client
    await client.aclose()


def one_key_per_family() -> list[CacheKey]:
    owner = uuid.uuid4()
    return [
        keys.user_profile(owner),
        keys.meeting_details(uuid.uuid4()),
        keys.participant_list(uuid.uuid4()),
        keys.feature_flag("use_webrtc_mesh"),
        keys.public_user("session-1"),
        keys.meeting_list(owner, 1, 10, "standup"),
        keys.meeting_joined(owner, 1, 10),
        keys.meeting_upcoming(owner, 5),
        keys.meeting_past(owner, 2, 10),
    ]


# -- the fill path ------------------------------------------------------------------------


async def test_a_miss_loads_once_then_reads_are_hits(make_cache: MakeCache) -> None:
    cache = await make_cache()
    key = keys.meeting_details(uuid.uuid4())
    loader = Loader({"id": "m1", "name": "Standup", "participants": []})

    first = await cache.get_or_load(key, loader)
    second = await cache.get_or_load(key, loader)
    third = await cache.get_or_load(key, loader)

    assert loader.calls == 1
    assert first == second == third == {"id": "m1", "name": "Standup", "participants": []}


async def test_the_stored_value_is_plain_json(make_cache: MakeCache, clean_redis: Redis) -> None:
    cache = await make_cache()
    key = keys.user_profile(uuid.uuid4())
    profile = {"id": "u1", "username": "zoë", "role": "user"}

    await cache.get_or_load(key, Loader(profile))

    raw = await clean_redis.get(key.key)
    assert raw is not None
    assert orjson.loads(raw) == profile
    assert raw.decode("utf-8").startswith("{")


@pytest.mark.parametrize("key", one_key_per_family(), ids=lambda k: k.family.value)
async def test_ttl_is_within_ten_percent_below_the_nominal_value(
    make_cache: MakeCache, clean_redis: Redis, key: CacheKey
) -> None:
    cache = await make_cache()
    nominal_ms = NOMINAL_TTL[key.family] * 1000
    for _ in range(5):
        await cache.invalidate(key)
        await cache.get_or_load(key, Loader({"v": 1}))
        pttl = await clean_redis.pttl(key.key)
        assert 0.9 * nominal_ms - 1000 <= pttl <= nominal_ms


# -- invalidation, leases, pattern deletion, health --------------------------------------


async def test_an_owners_pages_are_invalidated_wherever_they_live(
    make_cache: MakeCache, clean_redis: Any
) -> None:
    first, second = await make_cache(), await make_cache()
    host = uuid.uuid4()
    pages = [keys.meeting_list(host, page, 10, None) for page in range(1, 11)]
    pages += [keys.meeting_list(host, 1, 10, f"term {n}") for n in range(30)]
    loader = Loader({"meetings": []})
    for page in pages:
        await first.get_or_load(page, loader)
    assert await clean_redis.exists(*(p.key for p in pages)) == len(pages)
    if isinstance(clean_redis, RedisCluster):  # the index and its pages: several nodes
        assert len({clean_redis.keyslot(p.key) for p in pages}) > 1

    await second.invalidate_host_lists(host)

    assert await clean_redis.exists(*(p.key for p in pages)) == 0
    assert await first.get_or_load(pages[0], loader) == {"meetings": []}
    assert loader.calls == len(pages) + 1


async def test_a_fill_that_read_before_an_invalidation_never_stores(
    make_cache: MakeCache, clean_redis: Any
) -> None:
    first, second = await make_cache(), await make_cache()
    stale = Loader({"name": "old"})
    stale.gate = asyncio.Event()
    details = keys.meeting_details(uuid.uuid4())
    filling = asyncio.create_task(first.get_or_load(details, stale))
    await stale.started.wait()  # the loader has read the database: it holds the lease
    await second.invalidate(details)
    stale.gate.set()

    assert await filling == {"name": "old"}  # served to its own caller, never stored
    assert await clean_redis.get(details.key) is None


async def test_pattern_deletion_and_the_health_probe(make_cache: MakeCache) -> None:
    cache = await make_cache()
    await cache.set("scratch:a*b:1", 1, ttl=60)
    await cache.set("scratch:a*b:2", 2, ttl=60)
    await cache.set("scratch:aXb:1", 3, ttl=60)

    assert await cache.delete_by_pattern("scratch:" + keys.escape_glob("a*b") + ":*") == 2
    assert await cache.get("scratch:aXb:1") == 3
    health = await cache.health_check()
    assert health["status"] == "ok", health


# -- stampede ----------------------------------------------------------------------------


async def test_concurrent_readers_on_two_instances_cause_one_load(
    make_cache: MakeCache,
) -> None:
    first, second = await make_cache(), await make_cache()
    key = keys.meeting_list(uuid.uuid4(), 1, 10, None)
    loader = Loader({"meetings": [], "pagination": {"total": 0}}, delay=0.3)

    results = await asyncio.gather(
        *(cache.get_or_load(key, loader) for _ in range(100) for cache in (first, second))
    )

    assert loader.calls == 1
    assert results == [{"meetings": [], "pagination": {"total": 0}}] * 200


async def open_connections(client: Any) -> int:
    """The connections the deployment's primaries hold now, seen from Redis (INFO clients)."""
    if isinstance(client, RedisCluster):
        replies = await client.info("clients", target_nodes=RedisCluster.PRIMARIES)
        return sum(int(reply["connected_clients"]) for reply in replies.values())
    return int((await client.info("clients"))["connected_clients"])


async def test_a_burst_right_after_start_sets_up_no_connection(
    make_cache: MakeCache, clean_redis: Any
) -> None:
    """Setting up a connection is event-loop time that the burst's commands wait out (on a
    loaded machine, past the 250 ms command timeout; a cluster client then drops every
    connection of the node): a started cache has opened its pool."""
    cache = await make_cache()
    before = await open_connections(clean_redis)
    loader = Loader({"meetings": [], "pagination": {"total": 0}})

    results = await asyncio.gather(
        *(cache.get_or_load(keys.meeting_details(uuid.uuid4()), loader) for _ in range(64))
    )

    assert loader.calls == 64
    assert len(results) == 64
    assert await open_connections(clean_redis) - before <= 2


# -- the in-process tier over pub/sub -----------------------------------------------------


async def test_an_invalidation_reaches_the_other_instances_tier(make_cache: MakeCache) -> None:
    reader = await make_cache(gomeet_cache_l1=True, gomeet_cache_l1_ttl=600)
    writer = await make_cache(gomeet_cache_l1=True, gomeet_cache_l1_ttl=600)
    assert await eventually(lambda: l1_live(reader))
    assert await eventually(lambda: l1_live(writer))
    host = uuid.uuid4()
    details = keys.meeting_details(uuid.uuid4())
    page = keys.meeting_list(host, 1, 10, "retro")
    db = {"details": {"name": "old"}, "page": {"meetings": ["old"]}}

    async def load_details() -> object:
        return db["details"]

    async def load_page() -> object:
        return db["page"]

    for cache in (reader, writer):
        await cache.get_or_load(details, load_details)
        await cache.get_or_load(page, load_page)
    db["details"], db["page"] = {"name": "new"}, {"meetings": ["new"]}
    await writer.invalidate(details)
    await writer.invalidate_host_lists(host)

    async def fresh() -> bool:
        return await reader.get_or_load(details, load_details) == {
            "name": "new"
        } and await reader.get_or_load(page, load_page) == {"meetings": ["new"]}

    # Without the message the reader's tier would serve "old" for 600 s.
    assert await eventually(fresh, within=5.0)
    assert await writer.get_or_load(details, load_details) == {"name": "new"}


# -- stats --------------------------------------------------------------------------------


async def test_exact_counts_from_fifty_clients_on_two_instances(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    first, second = await make_cache(), await make_cache()
    meetings = [keys.meeting_details(uuid.uuid4()) for _ in range(10)]
    for key in meetings:  # 10 misses, 10 loads, 10 sets
        await first.get_or_load(key, Loader({"id": key.key}))

    async def client(n: int) -> None:
        cache = first if n % 2 else second
        for i in range(20):
            key = meetings[(n + i) % len(meetings)]
            assert await cache.get_or_load(key, Loader(None)) == {"id": key.key}

    await asyncio.gather(*(client(n) for n in range(50)))  # 1,000 hits
    await second.invalidate(*meetings[:3])  # 3 deletes
    await first.get_or_load(keys.user_profile(uuid.uuid4()), Loader(None))  # 1 miss (absent)
    assert await first.flush_stats()
    assert await second.flush_stats()

    raw = {k.decode(): v.decode() for k, v in (await clean_redis.hgetall("cache:stats")).items()}
    assert int(raw["hits"]) == 1000
    assert int(raw["misses"]) == 11
    assert int(raw["sets"]) == 11
    assert int(raw["deletes"]) == 3
    assert int(raw["errors"]) == 0
    assert int(raw["meeting_details:hits"]) == 1000
    assert int(raw["meeting_details:misses"]) == 10
    assert int(raw["user_profile:misses"]) == 1
    assert raw["last_updated"]

    stats = await first.get_cache_stats()
    assert stats["hits"] == 1000 and stats["misses"] == 11
    assert stats["hitRatio"] == round(1000 / 1011, 4)
    assert stats["families"]["meeting_details"]["deletes"] == 3
    assert stats["families"]["meeting_details"]["loads"] == 10
    assert stats["lastUpdated"] is not None
    assert stats["source"] == "redis"
