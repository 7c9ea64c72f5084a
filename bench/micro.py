"""micro-hit and micro-miss: one read-through, ours against the floor and two libraries.

Variants, all on the same Redis: `raw` (redis-py GET + orjson decode: the floor), `ours`
(Redis only), `ours+l1` (with the in-process tier), `cashews` and `aiocache` (each as it
ships, its default serializer, a 64-connection pool). A hit reads a key that is present; a
miss reads a fresh key, loads the value (no I/O: this measures the cache's own cost) and
stores it. Values of about 200 B, 2 KB and 20 KB of JSON; concurrency 1 and 64.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio import Redis

from bench.ours import Loader, ReadThrough, open_ours, ours_read
from bench.profiles import Profile
from bench.runner import RoundFn, Sample, run_rounds, summarize
from gomeet.config import Settings
from gomeet.redis_client import create_redis

TTL = 900
BASELINE = "raw"
MAX_OPS_PER_ROUND = 2_000_000


def make_value(size: int) -> dict[str, Any]:
    """A meeting-shaped JSON object whose orjson encoding is `size` bytes (or a little more)."""
    value: dict[str, Any] = {
        "id": str(uuid.UUID(int=size)),
        "name": "Weekly sync",
        "isActive": False,
        "description": "",
        "participants": [],
    }
    for i in itertools.count():
        participant = {"id": str(uuid.UUID(int=i)), "name": f"participant {i}", "isActive": True}
        if len(orjson.dumps(value)) + len(orjson.dumps(participant)) + 1 > size:
            break
        value["participants"].append(participant)
    value["description"] = "x" * max(0, size - len(orjson.dumps(value)))
    return value


async def measure(op: Callable[[int], Awaitable[Any]], concurrency: int, seconds: float) -> Sample:
    """Run `op(i)` from `concurrency` tasks for `seconds`; one latency per operation."""
    latencies: list[float] = []
    counter = itertools.count()
    perf = time.perf_counter
    start = perf()
    end = start + seconds

    async def worker() -> None:
        while (t0 := perf()) < end and (i := next(counter)) < MAX_OPS_PER_ROUND:
            await op(i)
            latencies.append(perf() - t0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Sample(ops=len(latencies), seconds=perf() - start, latencies=latencies)


@contextlib.asynccontextmanager
async def open_variants(
    redis_url: str, settings: Settings, concurrency: int
) -> AsyncIterator[dict[str, ReadThrough]]:
    """Each variant's read-through function, with its clients open."""
    from aiocache import RedisCache  # type: ignore[import-untyped]
    from cashews import Cache

    # Both call redis-py methods it has deprecated; the warnings are theirs, not the run's.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(aiocache|cashews)\.")

    pool = max(concurrency, 64)
    base = settings.model_copy(update={"redis_url": redis_url, "redis_max_connections": pool})
    async with contextlib.AsyncExitStack() as stack:
        raw = create_redis(base)
        stack.push_async_callback(raw.aclose)

        async def raw_read(key: str, loader: Loader) -> Any:
            data = await raw.get(key)
            if data is not None:
                return orjson.loads(data)
            value = await loader()
            await raw.set(key, orjson.dumps(value), ex=TTL)
            return value

        variants: dict[str, ReadThrough] = {"raw": raw_read}
        for name, l1 in (("ours", False), ("ours+l1", True)):
            client = create_redis(base)
            stack.push_async_callback(client.aclose)
            ours = await stack.enter_async_context(
                open_ours(base.model_copy(update={"gomeet_cache_l1": l1}), client)
            )
            variants[name] = ours_read(ours)

        cashews = Cache()
        cashews.setup(redis_url, max_connections=pool, socket_timeout=1)
        stack.push_async_callback(cashews.close)

        async def cashews_read(key: str, loader: Loader) -> Any:
            value = await cashews.get(key)
            if value is None:
                value = await loader()
                await cashews.set(key, value, expire=TTL)
            return value

        variants["cashews"] = cashews_read
        host_port = redis_url.split("//", 1)[1].split("/", 1)[0]
        host, _, port = host_port.rpartition(":")
        aiocache: Any = RedisCache(endpoint=host, port=int(port), pool_max_size=pool)
        stack.push_async_callback(aiocache.close)

        async def aiocache_read(key: str, loader: Loader) -> Any:
            value = await aiocache.get(key)
            if value is None:
                value = await loader()
                await aiocache.set(key, value, ttl=TTL)
            return value

        variants["aiocache"] = aiocache_read
        yield variants


async def _cleanup(redis: Redis, private: bool) -> None:
    """Drop the keys a miss round wrote (private Redis: all of them)."""
    if private:
        await redis.flushdb()
        return
    async for batch in _scan_batches(redis, "*bench:*"):
        await redis.unlink(*batch)


async def _scan_batches(redis: Redis, pattern: str) -> AsyncIterator[list[bytes]]:
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            yield batch
            batch = []
    if batch:
        yield batch


async def run_micro(
    kind: str, profile: Profile, redis_url: str, private_redis: bool
) -> dict[str, Any]:
    """`kind` is "hit" or "miss"; returns the scenario's JSON-ready result."""
    settings = Settings(_env_file=None)
    admin = Redis.from_url(redis_url)
    cells = []
    try:
        for concurrency in profile.micro_concurrency:
            async with open_variants(redis_url, settings, concurrency) as variants:
                for size in profile.micro_sizes:
                    rounds = await _cell(kind, variants, size, concurrency, profile)
                    cells.append(
                        {
                            "size": size,
                            "concurrency": concurrency,
                            "variants": [v.as_dict() for v in summarize(rounds, BASELINE)],
                        }
                    )
                    if kind == "miss":
                        await _cleanup(admin, private_redis)
    finally:
        await _cleanup(admin, private_redis)
        await admin.aclose()
    return {"scenario": f"micro-{kind}", "baseline": BASELINE, "cells": cells}


async def _cell(
    kind: str, variants: dict[str, ReadThrough], size: int, concurrency: int, profile: Profile
) -> dict[str, list[Sample]]:
    value = make_value(size)
    encoded = orjson.dumps(value)

    async def loader() -> Any:
        return orjson.loads(encoded)  # a fresh object, as a database load would give

    fns: dict[str, RoundFn] = {}
    for name, read in variants.items():
        prefix = f"bench:{kind}:{name}:{size}:{concurrency}"
        if await read(f"{prefix}:check", loader) != value:
            raise RuntimeError(f"micro-{kind}: variant {name} returned a wrong value")
        if kind == "hit":
            hot = [f"{prefix}:{i}" for i in range(64)]
            for key in hot:
                await read(key, loader)
            fns[name] = _hit_round(read, hot, loader, concurrency, profile.micro_seconds)
        else:
            fns[name] = _miss_round(read, prefix, loader, concurrency, profile.micro_seconds)
    return await run_rounds(fns, profile.micro_rounds)


def _hit_round(
    read: ReadThrough, hot: list[str], loader: Loader, concurrency: int, seconds: float
) -> RoundFn:
    async def op(i: int) -> Any:
        return await read(hot[i & 63], loader)

    return lambda: measure(op, concurrency, seconds)


def _miss_round(
    read: ReadThrough, prefix: str, loader: Loader, concurrency: int, seconds: float
) -> RoundFn:
    rounds = itertools.count()

    async def one_round() -> Sample:
        r = next(rounds)

        async def op(i: int) -> Any:
            return await read(f"{prefix}:r{r}:{i}", loader)

        return await measure(op, concurrency, seconds)

    return one_round
