"""`python -m bench.hotpath ours|ours+l1|raw [SECONDS] [SIZE]`: a cache-hit loop to
profile, e.g. `py-spy record -o hit.svg -- python -m bench.hotpath ours 10`.

It reads 64 hot keys round-robin at concurrency 1 for SECONDS on a private Redis and
prints the rate on stderr; log records are formatted at the configured LOG_LEVEL and
dropped, as in `gomeet bench`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import orjson

from bench.main import quiet_stdout
from bench.micro import make_value
from bench.ours import open_ours
from bench.servers import BenchRedis
from gomeet.cache import CacheKey, Family
from gomeet.config import Settings
from gomeet.redis_client import create_redis


async def hit_loop(variant: str, url: str, seconds: float, size: int) -> float:
    settings = Settings(_env_file=None, redis_url=url, gomeet_cache_l1=variant == "ours+l1")
    encoded = orjson.dumps(make_value(size))

    async def loader() -> Any:
        return orjson.loads(encoded)

    client = create_redis(settings)
    try:
        async with open_ours(settings, client) as cache:
            hot = [CacheKey(Family.MEETING_DETAILS, f"bench:hot:{i}") for i in range(64)]
            for key in hot:
                await cache.get_or_load(key, loader)
                await client.set(f"bench:raw:{key.key}", encoded)
            raw = [f"bench:raw:{key.key}" for key in hot]
            ops = 0
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                if variant == "raw":
                    orjson.loads(await client.get(raw[ops & 63]) or b"null")
                else:
                    await cache.get_or_load(hot[ops & 63], loader)
                ops += 1
            return ops / seconds
    finally:
        await client.aclose()


def main() -> None:
    variant = sys.argv[1] if len(sys.argv) > 1 else "ours"
    if variant not in ("ours", "ours+l1", "raw"):
        raise SystemExit(__doc__)
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 2_000
    with BenchRedis() as redis, quiet_stdout():
        rate = asyncio.run(hit_loop(variant, redis.url, seconds, size))
    print(f"{variant}: {rate:,.0f} hits/s ({size} B values)", file=sys.stderr)


if __name__ == "__main__":
    main()
