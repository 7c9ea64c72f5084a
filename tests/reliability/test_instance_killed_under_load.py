"""An instance SIGKILLed mid-write under load (CONTRACT §4: no invalidation is lost, not when
the instance that made the write is killed right after its commit).

A is a real `gomeet serve` process, B an in-process app, both on one PostgreSQL and one
Redis; the consistency checker's writers and readers go through both. Mid-run A's Redis
link is black-holed (its invalidations after each commit become owed), and half a second
later, with its writes in flight, A is killed with SIGKILL. The load goes on through B; A
is then started again and rejoins the load. Shown: only the requests A had in flight fail
(their connection is reset; so do those sent to it before it is taken out of the load),
no read through B or the new A is stale beyond the bound, and
the quiescence pass, which reads the restarted A too, finds 0 stale entries. The single-
write form (a logout, measured to the millisecond) is
tests/consistency/test_instance_killed.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from consistency.checker import Checker, CheckerConfig
from consistency.instances import Instance
from reliability.faults import assert_consistent, figures, leaves_after_a_failed_join, opener
from support.proxy import TcpProxy, Upstream
from support.serve import serve

pytestmark = pytest.mark.e2e


async def test_an_instance_killed_mid_write_loses_no_invalidation(
    postgresql_database: str, redis_url: str, clean_redis: Redis, tmp_path: Path
) -> None:
    open_client = opener(postgresql_database, redis_url, tmp_path)
    with (
        TcpProxy(Upstream.of_redis_url(redis_url), seed=9) as proxy,
        contextlib.ExitStack() as processes,
    ):
        var = tmp_path / "victim"
        base, victim = processes.enter_context(
            serve(postgresql_database, proxy.redis_url(redis_url), var)
        )
        async with contextlib.AsyncExitStack() as clients:
            a = await clients.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30))
            b = await clients.enter_async_context(open_client())
            oracle = await clients.enter_async_context(open_client(gomeet_cache=False))
            instances = [Instance("A", a), Instance("B", b)]
            checker = Checker(instances, Instance("oracle", oracle), CheckerConfig(seed=41))
            async with checker.running():
                await asyncio.sleep(1.5)
                proxy.blackhole()  # A's invalidations are owed from now on
                await asyncio.sleep(0.5)
                through_a = sum(1 for o in checker.outcomes if o.instance == "A")
                killed = time.monotonic()
                victim.send_signal(signal.SIGKILL)
                await asyncio.to_thread(victim.wait, 10)
                checker.replace("A", None)  # the load balancer stops sending it requests
                dropped = time.monotonic()
                proxy.passthrough()
                await asyncio.sleep(2.0)
                # A again: a new process (its Redis link intact), back in the load.
                new_base, _ = await asyncio.to_thread(
                    processes.enter_context, serve(postgresql_database, redis_url, var)
                )
                restarted = time.monotonic()
                again = httpx.AsyncClient(base_url=new_base, timeout=30)
                await clients.enter_async_context(again)
                checker.replace("A", Instance("A", again))
                await asyncio.sleep(1.5)
            report = await checker.finish()
    failed = [o for o in report.outcomes if o.status != 200]
    unjoined = leaves_after_a_failed_join(report)  # a join that died with A
    failed = [o for o in failed if o not in unjoined]
    print(
        figures(
            "instance killed mid-write",
            report,
            requests_through_a_before_the_kill=through_a,
            failed_requests=[(o.instance, o.endpoint, o.status) for o in failed],
            leaves_after_a_lost_join=len(unjoined),
            a_down_s=restarted - killed,
        )
    )
    # Only what A had in flight when it died, or was sent before it was taken out of the
    # load, fails: a reset or refused connection (status 0).
    assert all(o.instance == "A" and o.status == 0 for o in failed), failed
    assert all(o.end >= killed and o.start < dropped for o in failed), failed
    assert report.writes >= 20, report.summary()
    assert_consistent(report)
