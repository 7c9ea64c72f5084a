"""The app through Redis Sentinel, its master failed over under load (CONTRACT §2, §4).

Two app instances (A, B; in-process tier and rate limiter on) on one PostgreSQL and a real
master + replica + three sentinels; the consistency checker's writers and readers run
through both, and the `GOMEET_CACHE=off` oracle judges the end state. Mid-run the master is
replaced, by `SENTINEL FAILOVER` (the old master stays up, and keeps accepting writes for
some seconds: the writes Sentinel loses) or by SIGKILL of its process. Shown, each time:

- every request succeeds (reads fall back to the database while Redis is unusable);
- caching resumes on the new master by itself: both instances move, their breakers close,
  the new master's `cache:stats` counts hits, both subscriptions listen to the new master;
- no invalidation is lost: no read, through either instance, shows the state from before
  an acknowledged write (beyond the tier's message window), and no cached entry disagrees
  with the database once the writes stop;
- the stats keep counting across the failover.

The figures (requests during the failover, failures, time until caching resumed) are
printed: `make test PYTEST_ARGS='-q -s tests/consistency/test_sentinel_failover.py'`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from consistency.checker import Checker, CheckerConfig
from consistency.instances import cluster, settle_time
from support.apps import NEVER_REFUSING_LIMITS, app_settings, open_app
from support.sentinel import SentinelTopology

FAULTS: dict[str, Callable[[SentinelTopology], int]] = {
    "sentinel-failover": SentinelTopology.failover,
    "master-killed": SentinelTopology.kill_master,
}


async def stats(node: Redis) -> dict[str, int]:
    raw = await node.hgetall("cache:stats")
    return {k.decode(): int(v) for k, v in raw.items() if v.isdigit()}


def serving(client: httpx.AsyncClient, port: int) -> bool:
    """The instance talks to the master on `port` and reads Redis again."""
    cache = client.app.state.cache  # type: ignore[attr-defined]
    pool = cache.engine.sentinel
    return bool(pool.master_address[1] == port and cache.breaker.closed)


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_failover_under_load_loses_no_request_and_no_invalidation(
    fault: str,
    sentinel: SentinelTopology,
    postgresql_database: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    await asyncio.to_thread(sentinel.wait_ready)
    old = sentinel.master_port()

    def open_client(**overrides: Any) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        return open_app(app_settings(postgresql_database, redis_url, tmp_path, **overrides))

    through_sentinel = {"redis_sentinel_url": sentinel.url, **NEVER_REFUSING_LIMITS}
    try:
        async with cluster(open_client, l1=True, overrides=[through_sentinel] * 2) as (
            instances,
            oracle,
        ):
            old_master = sentinel.data_client(old)
            config = CheckerConfig(duration=0, settle=settle_time(l1=True), seed=12)
            checker = Checker(instances, oracle, config)
            async with checker.running():
                await asyncio.sleep(1.0)  # load on the old master
                before = await asyncio.to_thread(lambda: old_master.hgetall("cache:stats"))
                requests_before = sum(checker.ops.values())
                started = time.monotonic()
                await asyncio.to_thread(FAULTS[fault], sentinel)
                switched = await asyncio.to_thread(sentinel.wait_master_moved, old)
                new = sentinel.master_port()
                new_master = Redis(port=new, password=sentinel.password)
                at_switch = (await stats(new_master)).get("hits", 0)

                async def resumed() -> bool:
                    on_new = all(serving(i.client, new) for i in instances)
                    return on_new and (await stats(new_master)).get("hits", 0) > at_switch

                while not await resumed():  # event-driven; the bound is a liveness one
                    assert time.monotonic() - started < 60, "caching never resumed"
                    await asyncio.sleep(0.02)
                resumed_after = time.monotonic() - started
                during = sum(checker.ops.values()) - requests_before
                await asyncio.sleep(1.0)  # load on the new master
            report = await checker.finish()
            subscribers = (await new_master.pubsub_numsub("cache:invalidate"))[0][1]
            after = await stats(new_master)
            await new_master.aclose()
            old_master.close()
    finally:
        await asyncio.to_thread(sentinel.restore, old)

    print(
        f"\n{fault}: {during} requests from the fault until caching resumed, "
        f"{len(report.errors)} failed; sentinels switched after {switched:.2f} s, "
        f"caching resumed on the new master after {resumed_after:.2f} s; "
        f"stale reads {len(report.stale_reads)}, stale entries {len(report.stale_entries)}\n"
        f"{report.summary()}"
    )
    assert not report.errors, report.errors[:5]  # every request succeeded
    assert during > 0 and report.writes >= 20, report.summary()
    assert report.stale_reads == [], report.summary()  # no invalidation lost
    assert report.stale_entries == [], report.summary()
    assert subscribers >= 2  # both tiers listen to the new master
    hits_before = int(before.get(b"hits", 0))
    assert after["hits"] > hits_before > 0  # the stats kept counting
    assert after["misses"] > 0 and after["errors"] >= 0
