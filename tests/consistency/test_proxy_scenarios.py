"""The app behind the fault-injecting proxy (tests/support/proxy.py).

(i) A partial partition: instance A's Redis link is black-holed while B reaches Redis.
    Every request still succeeds, and no read (through A or B) is stale beyond 1 s of
    the write's acknowledgement (CONTRACT §4: no invalidation is lost when an instance
    cannot reach Redis while others can).
(ii) A slow database: PostgreSQL delayed 20 ms ± 20 ms per chunk, 200 concurrent cold reads
    of one meeting through two instances: the database is asked once (CONTRACT §4,
    stampede), counted with `gomeet_cache_loads_total{family="meeting_details"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from consistency.checker import Checker, CheckerConfig
from consistency.instances import cluster
from helpers import scrape, value
from meetings.meeting_helpers import MEETINGS, create_meeting, data_of, new_user
from support.apps import app_settings, open_app
from support.proxy import TcpProxy, Upstream

MakeProxy = Callable[..., TcpProxy]
PARTITION_S = 3.0
BOUND_S = 1.0  # CONTRACT §4: within 1 s of the write


async def test_an_instance_black_holed_from_redis_causes_no_stale_read_beyond_1_s(
    app_client: Callable[..., Any], tcp_proxy: MakeProxy, redis_url: str
) -> None:
    proxies = [tcp_proxy(Upstream.of_redis_url(redis_url), seed=i) for i in range(2)]
    overrides = [{"redis_url": p.redis_url(redis_url)} for p in proxies]
    async with cluster(app_client, l1=False, overrides=overrides) as (instances, oracle):
        # Writes go through A, the instance about to lose Redis; reads through both.
        config = CheckerConfig(duration=0, settle=1.0, seed=11)
        checker = Checker(instances, oracle, config, write_via=["A"])
        async with checker.running():
            await asyncio.sleep(1.0)
            proxies[0].blackhole()
            await asyncio.sleep(PARTITION_S)
            proxies[0].passthrough()
            await asyncio.sleep(1.0)
        report = await checker.finish()
    print(report.summary())
    assert not report.errors, report.errors[:5]  # every request succeeded
    assert report.writes >= 20 and report.reads >= 100, report.summary()
    cached = {"A", "B"}
    late = report.stale(beyond=BOUND_S, instances=cached)
    worst = report.worst_lag(cached)
    assert late == [], f"worst lag {worst:.3f} s\n{report.summary()}"
    assert report.stale_entries == [], report.summary()


async def test_the_proxy_in_pass_through_changes_nothing_the_app_serves(
    app_client: Callable[..., Any], tcp_proxy: MakeProxy, redis_url: str
) -> None:
    """The scenario's control: the same run with both links intact finds no stale read
    beyond the bound through the cached instances."""
    proxies = [tcp_proxy(Upstream.of_redis_url(redis_url), seed=i) for i in range(2)]
    overrides = [{"redis_url": p.redis_url(redis_url)} for p in proxies]
    async with cluster(app_client, l1=False, overrides=overrides) as (instances, oracle):
        config = CheckerConfig(duration=2.0, settle=1.0, seed=11)
        report = await Checker(instances, oracle, config, write_via=["A"]).run()
    assert not report.errors, report.errors[:5]
    late = report.stale(beyond=BOUND_S, instances={"A", "B"})
    assert late == [], report.summary()
    assert report.stale_entries == [], report.summary()
    assert all(p.stats.bytes_up > 0 for p in proxies)


async def test_200_cold_reads_through_two_instances_on_a_slow_database_load_once(
    postgresql_database: str,
    clean_redis: Redis,
    redis_url: str,
    tcp_proxy: MakeProxy,
    tmp_path: Path,
) -> None:
    proxy = tcp_proxy(Upstream.of_database_url(postgresql_database), seed=5)
    var = tmp_path / "var"
    async with open_app(app_settings(postgresql_database, redis_url, var)) as setup:
        _, host = await new_user(setup)
        meeting = await create_meeting(setup, host, "Slow sync", timedelta(days=1))
    path = f"{MEETINGS}/{meeting['id']}/public"
    await clean_redis.delete(f"meeting:details:{meeting['id']}")  # a cold key
    # Two freshly started instances: their first database connections, too, go through
    # the slow link, so a load takes several times the link's delay, as a slow database's.
    settings = app_settings(proxy.database_url(postgresql_database), redis_url, var)
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_app(settings))
        b = await stack.enter_async_context(open_app(settings))
        before = [await loads(c) for c in (a, b)]

        proxy.delay(20, 20)
        responses = await asyncio.gather(*(c.get(path) for _ in range(100) for c in (a, b)))
        proxy.passthrough()

        bodies = [data_of(r) for r in responses]
        assert all(body == bodies[0] for body in bodies)
        assert bodies[0]["name"] == "Slow sync"
        counted = [await loads(c) - n for c, n in zip((a, b), before, strict=True)]
    assert sum(counted) == 1, f"loads per instance {counted}"


async def loads(client: Any) -> float:
    return value(await scrape(client), "gomeet_cache_loads_total", family="meeting_details")
