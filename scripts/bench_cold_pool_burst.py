"""A burst of concurrent reads right after a cache starts: on a cold pool, and on the pool
that `REDIS_WARM_CONNECTIONS` opens at start.

Each round builds a fresh client and cache the way the app does (`create_redis`,
`build_cache`, `start()`, timed), then times `--burst` concurrent GETs of distinct keys
through the cache's store and records the slowest one. Cold (`REDIS_WARM_CONNECTIONS=0`) and
warm rounds alternate. The median and the maximum of the slowest read, the failed reads and
the median `start()` are printed for each. With `--cluster` a cluster of three nodes
(tests/support/cluster.py) is used, a private redis-server otherwise. Run it beside CPU
hogs to see the loaded case:

    .venv/bin/python scripts/bench_cold_pool_burst.py [--cluster] [--rounds 20] [--burst 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from gomeet.cache import build_cache
from gomeet.config import Settings
from gomeet.embedded import EmbeddedRedis
from gomeet.redis_client import create_redis
from support.cluster import redis_cli_binary, redis_cluster


async def slowest_read(backend: dict[str, str], warm: int, burst: int) -> tuple[float, float, int]:
    """How long `start()` took, the slowest of `burst` concurrent GETs on the just-started
    cache, and how many of them failed."""
    settings = Settings(_env_file=None, environment="test", redis_warm_connections=warm, **backend)
    redis = create_redis(settings)
    cache = build_cache(settings, redis)
    t0 = time.perf_counter()
    await cache.start()
    started = time.perf_counter() - t0
    store = cache.engine.store

    async def read(n: int) -> float | None:
        t0 = time.perf_counter()
        try:
            async with store.slots:
                await store.redis.get(f"burst:{n}")
        except Exception as exc:
            print(f"  a read failed: {type(exc).__name__}: {exc}")
            return None
        return time.perf_counter() - t0

    try:
        times = await asyncio.gather(*(read(n) for n in range(burst)))
    finally:
        await cache.aclose()
        await redis.aclose()
    done = [t for t in times if t is not None]
    return started, max(done, default=0.0), burst - len(done)


@contextlib.contextmanager
def deployment(cluster: bool) -> Iterator[dict[str, str]]:
    if cluster:
        cli = redis_cli_binary()
        if cli is None:
            raise SystemExit("no redis-cli to form a cluster")
        with redis_cluster(cli) as url:
            yield {"redis_cluster_url": url}
    else:
        with EmbeddedRedis() as server:
            yield {"redis_url": server.url}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--burst", type=int, default=64)
    args = parser.parse_args()
    slowest: dict[str, list[float]] = {"cold": [], "warm": []}
    starts: dict[str, list[float]] = {"cold": [], "warm": []}
    failed = dict.fromkeys(slowest, 0)
    with deployment(args.cluster) as backend:
        for _ in range(args.rounds):
            for label, warm in (("cold", 0), ("warm", args.burst)):
                started, worst, failures = asyncio.run(slowest_read(backend, warm, args.burst))
                starts[label].append(started)
                slowest[label].append(worst)
                failed[label] += failures
    for label, times in slowest.items():
        print(
            f"{label}: slowest of {args.burst} concurrent reads, median "
            f"{statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
            f"over {args.rounds} rounds; {failed[label]} reads failed; start() median "
            f"{statistics.median(starts[label]) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
