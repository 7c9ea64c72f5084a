"""stampede: a hot key expires while 1,000 requests for it arrive at once.

The requests are spread over several cache instances (as over several app processes) that
share one Redis; the loader stands in for a database query that takes a while. Variants:
`naive` (redis-py cache-aside with no protection, what the Go original did), `ours` and
`ours+l1`. Reported: loads (database queries) per stampede, p99, failed requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio import BlockingConnectionPool, Redis

from bench.micro import make_value
from bench.ours import ReadThrough, open_ours, ours_read
from bench.profiles import Profile
from bench.runner import RoundFn, Sample, run_rounds, summarize
from gomeet.config import Settings
from gomeet.redis_client import create_redis

TTL = 1  # seconds: the key expires between rounds
L1_TTL = 0.5
BASELINE = "naive"


@contextlib.asynccontextmanager
async def _instances(redis_url: str, variant: str, count: int) -> AsyncIterator[list[ReadThrough]]:
    settings = Settings(
        _env_file=None,
        redis_url=redis_url,
        cache_ttl_meeting_details=TTL,
        gomeet_cache_l1=variant == "ours+l1",
        gomeet_cache_l1_ttl=L1_TTL,
    )
    async with contextlib.AsyncExitStack() as stack:
        reads: list[ReadThrough] = []
        for _ in range(count):
            if variant == BASELINE:
                # A blocking pool: naive requests queue for a connection instead of failing.
                pool = BlockingConnectionPool.from_url(redis_url, max_connections=64, timeout=10)
                naive = Redis.from_pool(pool)
                stack.push_async_callback(naive.aclose)
                await _open_connections(naive, 64)
                reads.append(_naive(naive))
            else:
                client = create_redis(settings)
                stack.push_async_callback(client.aclose)
                await _open_connections(client, settings.redis_max_connections)
                cache = await stack.enter_async_context(open_ours(settings, client))
                reads.append(ours_read(cache))
        yield reads


async def _open_connections(redis: Redis, count: int) -> None:
    """Open the pool's connections before measuring, as in a server that has been running:
    the stampede is a hot key expiring, not a cold start (where a burst of connection set-ups
    on a loaded machine can time out). Bounded: three attempts, then measure anyway."""
    for _ in range(3):
        results = await asyncio.gather(
            *(redis.ping() for _ in range(count)), return_exceptions=True
        )
        if not any(isinstance(r, BaseException) for r in results):
            return


def _naive(redis: Redis) -> ReadThrough:
    async def read(key: str, loader: Callable[[], Awaitable[Any]]) -> Any:
        data = await redis.get(key)
        if data is not None:
            return orjson.loads(data)
        value = await loader()
        await redis.set(key, orjson.dumps(value), ex=TTL)
        return value

    return read


async def _stampede(
    reads: list[ReadThrough], key: str, requests: int, load_seconds: float
) -> Sample:
    value = make_value(2_000)
    loads = 0

    async def loader() -> Any:
        nonlocal loads
        loads += 1
        await asyncio.sleep(load_seconds)
        return value

    latencies: list[float] = []
    failed = 0

    async def one(i: int) -> None:
        nonlocal failed
        t0 = time.perf_counter()
        try:
            result = await reads[i % len(reads)](key, loader)
        except Exception:  # a failed request is what this counts
            result = None
        if result != value:
            failed += 1
        latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    elapsed = time.perf_counter() - start
    return Sample(requests, elapsed, latencies, {"loads": loads, "failed": failed})


async def _wait_expired(admin: Redis, keys: list[str], not_before: float) -> None:
    """Until no key is left in Redis and the in-process tier's TTL has passed (bounded)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if time.monotonic() >= not_before and not await admin.exists(*keys):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("stampede: the hot keys did not expire within 10 s")


async def run_stampede(profile: Profile, redis_url: str) -> dict[str, Any]:
    variants = (BASELINE, "ours", "ours+l1")
    admin = Redis.from_url(redis_url)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(admin.aclose)
        reads = {
            v: await stack.enter_async_context(_instances(redis_url, v, profile.stampede_instances))
            for v in variants
        }
        counter = itertools.count()
        pending: dict[str, str] = {}

        async def prepare() -> None:
            """Fill every variant's hot key once, then wait until all of them have expired."""
            r = next(counter)
            filler = make_value(2_000)
            for v in variants:
                pending[v] = f"bench:stampede:{v}:{r}"
                await reads[v][0](pending[v], _constant(filler))
            not_before = time.monotonic() + max(TTL, L1_TTL) + 0.05
            await _wait_expired(admin, list(pending.values()), not_before)

        def variant_round(v: str) -> RoundFn:
            async def run() -> Sample:
                if v not in pending:
                    await prepare()
                key = pending.pop(v)
                return await _stampede(
                    reads[v], key, profile.stampede_requests, profile.stampede_load_seconds
                )

            return run

        samples = await run_rounds({v: variant_round(v) for v in variants}, profile.stampede_rounds)
    return {
        "scenario": "stampede",
        "baseline": BASELINE,
        "requests": profile.stampede_requests,
        "instances": profile.stampede_instances,
        "load_ms": profile.stampede_load_seconds * 1000,
        "variants": [s.as_dict() for s in summarize(samples, BASELINE)],
        "loads_per_round": {v: [int(s.extra["loads"]) for s in samples[v]] for v in variants},
        "failed_per_round": {v: [int(s.extra["failed"]) for s in samples[v]] for v in variants},
    }


def _constant(value: Any) -> Callable[[], Awaitable[Any]]:
    async def load() -> Any:
        return value

    return load
