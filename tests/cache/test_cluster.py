"""The cache on a real three-node Redis Cluster (REDIS_CLUSTER_URL).

Guarantees: every command, pipeline and script the cache sends is valid on a cluster
(scripts touch one key; list-page indexes and their pages may live on different nodes, so
ordered steps are sent as separate round trips there), and leases, owner-list
invalidation, pattern deletion, stats and the in-process tier's pub/sub work as on a
single server. Skipped when no `redis-cli` is available to create the cluster.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from cache_helpers import Loader, eventually, free_port, l1_live
from redis.asyncio.cluster import RedisCluster

from gomeet.cache import CacheRepository, build_cache, keys
from gomeet.config import Settings
from gomeet.embedded import redis_server_binary
from gomeet.redis_client import create_redis

REDIS_CLI = shutil.which("redis-cli")
pytestmark = pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli is needed to form a cluster")


@pytest.fixture(scope="module")
def cluster_url() -> Iterator[str]:
    workdir = tempfile.mkdtemp(prefix="gomeet-cluster-")
    ports = [cluster_port() for _ in range(3)]
    nodes = [
        subprocess.Popen(
            [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", f"{workdir}/nodes-{port}.conf",
             "--save", "", "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]  # fmt: skip
    try:
        assert REDIS_CLI is not None
        for port in ports:
            _wait(lambda p=port: _cli(p, "ping") == "PONG")
        subprocess.run(
            [REDIS_CLI, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        _wait(lambda: "cluster_state:ok" in _cli(ports[0], "cluster", "info"))
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is valid and free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _cli(port: int, *args: str) -> str:
    assert REDIS_CLI is not None
    done = subprocess.run(
        [REDIS_CLI, "-p", str(port), *args], capture_output=True, text=True, timeout=5
    )
    return done.stdout.strip()


def _wait(check: Any, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("the test cluster did not come up")
        time.sleep(0.05)


@pytest.fixture
async def cluster(cluster_url: str) -> AsyncIterator[tuple[list[CacheRepository], RedisCluster]]:
    settings = Settings(
        _env_file=None,
        environment="test",
        redis_cluster_url=cluster_url,
        gomeet_cache_l1=True,
        gomeet_cache_l1_ttl=600,
    )
    clients = [create_redis(settings) for _ in range(2)]
    caches = [build_cache(settings, client) for client in clients]
    raw = RedisCluster.from_url(cluster_url)
    await raw.flushall()
    for cache in caches:
        await cache.start()
    yield caches, raw
    for cache in caches:
        await cache.aclose()
    for client in clients:
        await client.aclose()
    await raw.aclose()


async def test_the_cache_works_on_a_cluster(
    cluster: tuple[list[CacheRepository], RedisCluster],
) -> None:
    (first, second), raw = cluster
    host = uuid.uuid4()
    pages = [keys.meeting_list(host, page, 10, None) for page in range(1, 40)]
    loader = Loader({"meetings": []}, delay=0.02)

    results = await asyncio.gather(*(c.get_or_load(pages[0], loader) for c in (first, second)))
    for page in pages[1:]:
        await first.get_or_load(page, loader)
    assert results == [{"meetings": []}] * 2
    assert loader.calls == len(pages)
    assert len({raw.keyslot(p.key) for p in pages}) > 1  # spread over the nodes

    await second.invalidate_host_lists(host)
    assert await raw.exists(*(p.key for p in pages)) == 0

    stale = Loader({"name": "old"})
    stale.gate = asyncio.Event()
    details = keys.meeting_details(uuid.uuid4())
    filling = asyncio.create_task(first.get_or_load(details, stale))
    await stale.started.wait()
    await second.invalidate(details)
    stale.gate.set()
    await filling
    assert await raw.get(details.key) is None

    await first.set("scratch:a*b:1", 1, ttl=60)
    await first.set("scratch:a*b:2", 2, ttl=60)
    await first.set("scratch:aXb:1", 3, ttl=60)
    assert await first.delete_by_pattern("scratch:" + keys.escape_glob("a*b") + ":*") == 2

    assert (await first.health_check())["status"] == "ok"
    assert await first.flush_stats() and await second.flush_stats()
    stats = await first.get_cache_stats()
    assert stats["source"] == "redis"
    assert stats["families"]["meeting_list"]["loads"] == len(pages)


async def test_tier_invalidation_over_cluster_pubsub(
    cluster: tuple[list[CacheRepository], RedisCluster],
) -> None:
    (reader, writer), _ = cluster
    assert await eventually(lambda: l1_live(reader))
    key = keys.user_profile(uuid.uuid4())
    db = {"role": "user"}

    async def load() -> dict[str, str]:
        return dict(db)

    await reader.get_or_load(key, load)
    db["role"] = "admin"
    await writer.invalidate(key)

    async def fresh() -> bool:
        return bool(await reader.get_or_load(key, load) == {"role": "admin"})

    assert await eventually(fresh, within=5.0)
