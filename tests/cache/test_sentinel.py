"""The cache across a Sentinel failover (REDIS_SENTINEL_URL), on a real master, replica and
three sentinels (tests/support/sentinel.py).

Guarantees: an invalidation that reached the old master after the replica's promotion,
before the clients moved (writes Sentinel loses: the old master is wiped when it rejoins),
is replayed on the new master, so no read there serves the state from before it; the
in-process tier's subscription moves to the new master and its invalidations arrive
again. The bound on remembered invalidations holds: past it a replay flushes everything.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from cache_helpers import Loader, MakeCache, eventually, l1_live
from redis.asyncio import Redis

from gomeet.cache import CacheRepository, keys
from gomeet.cache.deferral import Deferred
from gomeet.cache.recent import Recent
from support.proxy import TcpProxy, Upstream
from support.sentinel import SentinelTopology


def master_of(cache: CacheRepository) -> int | None:
    assert cache.engine is not None and cache.engine.sentinel is not None
    address = cache.engine.sentinel.master_address
    return None if address is None else int(address[1])


async def serving(cache: CacheRepository, port: int) -> bool:
    """The cache has moved to `port` and reads Redis again (its breaker closed)."""
    return master_of(cache) == port and (await cache.health_check())["circuit"] == "closed"


async def test_an_invalidation_the_old_master_took_after_the_promotion_is_not_lost(
    make_cache: MakeCache, sentinel: SentinelTopology
) -> None:
    reader = await make_cache(
        redis_sentinel_url=sentinel.url, gomeet_cache_l1=True, gomeet_cache_l1_ttl=600
    )
    writer = await make_cache(redis_sentinel_url=sentinel.url)
    assert await eventually(lambda: l1_live(reader))
    old, new = sentinel.master_port(), sentinel.replica_port()
    promoted = sentinel.data_client(new)
    replica = Redis(port=new, password=sentinel.password)
    key = keys.meeting_details(uuid.uuid4())
    db = {"name": "before"}

    async def load() -> dict[str, str]:
        return dict(db)

    try:
        assert await reader.get_or_load(key, load) == {"name": "before"}  # also in its tier
        assert await eventually(lambda: _has(replica, key.key))  # replicated

        await asyncio.to_thread(sentinel.failover)

        async def is_promoted() -> bool:
            return (await replica.role())[0] == b"master"

        assert await eventually(is_promoted, within=30)
        # The window: the replica is a master, the sentinels (and so the clients) still
        # point at the old one, which keeps accepting writes.
        assert master_of(writer) == old
        db["name"] = "after"
        assert await writer.invalidate_names([key.key]) == 1  # deleted on the old master only
        assert await replica.exists(key.key) == 1  # the new master still holds "before"

        for cache in (reader, writer):
            assert await eventually(lambda c=cache: serving(c, new), within=30)
        assert await reader.get_or_load(key, load) == {"name": "after"}
        assert await replica.get(key.key) in (None, b'{"name":"after"}')

        # The reader's tier listens to the new master: an invalidation there reaches it.
        assert await eventually(lambda: l1_live(reader))
        assert await _subscribers(replica) >= 2  # both instances' subscriptions moved
        db["name"] = "later"
        await writer.invalidate(key)

        async def fresh() -> bool:
            return bool(await reader.get_or_load(key, load) == {"name": "later"})

        assert await eventually(fresh, within=5)
    finally:
        promoted.close()
        await replica.aclose()
        await asyncio.to_thread(sentinel.restore, old)


async def _has(client: Redis, name: str) -> bool:
    return bool(await client.exists(name))


async def _subscribers(client: Redis) -> int:
    counts = await client.pubsub_numsub("cache:invalidate")
    return int(counts[0][1])


async def test_sentinels_that_never_answer_cost_a_read_one_short_wait(
    make_cache: MakeCache, sentinel: SentinelTopology, tcp_proxy: Callable[..., TcpProxy]
) -> None:
    """Eight sentinel addresses, all black-holed: asked one after another they would cost
    8 x 250 ms; the search for the master is bounded by the connect timeout (0.5 s here)."""
    proxies = [tcp_proxy(Upstream(host="127.0.0.1", port=p)) for p in sentinel.sentinel_ports]
    proxies += [tcp_proxy(Upstream(host="127.0.0.1", port=sentinel.sentinel_ports[0]))] * 5
    for proxy in proxies:
        proxy.blackhole()
    url = sentinel.url_via([p.port for p in proxies])
    cache = await make_cache(redis_sentinel_url=url, redis_connect_timeout=0.5)
    loader = Loader({"name": "from the database"})

    started = time.monotonic()
    value = await cache.get_or_load(keys.meeting_details(uuid.uuid4()), loader)
    waited = time.monotonic() - started

    assert value == {"name": "from the database"} and loader.calls == 1
    assert waited < 1.5, f"a read waited {waited:.2f} s on sentinels that never answer"


def test_past_its_bound_the_replay_flushes_every_family() -> None:
    recent = Recent(window=60, limit=5)
    for n in range(3):
        recent.note([f"user:profile:{n}"])
    deferred = Deferred(limit=100)
    assert recent.replay_into(deferred) == 3
    assert deferred.kept.names == {"user:profile:0", "user:profile:1", "user:profile:2"}
    assert not deferred.kept.overflow

    for n in range(3, 10):
        recent.note([f"user:profile:{n}"], patterns=["scratch:*"] if n == 9 else ())
    deferred = Deferred(limit=100)
    recent.replay_into(deferred)
    assert len(recent) <= 5
    assert deferred.kept.overflow  # something inside the window was forgotten
    assert "scratch:*" in deferred.kept.patterns


def test_what_is_older_than_the_window_is_not_replayed() -> None:
    recent = Recent(window=0.0, limit=100)
    recent.note(["user:profile:1"])
    deferred = Deferred(limit=100)
    assert recent.replay_into(deferred) == 0
    assert len(deferred) == 0
