"""The TTL advice on a real workload: the benchmark's api-read mix (Zipf reads, 5 % writes)
against one served API on a seeded PostgreSQL and a private Redis, with every family's
TTL scaled down (`--scale`, default 1/60) so that entries live and expire within minutes.

1. a warm-up, then window A: hit ratio per family and overall (`cache:stats` deltas);
2. the analytics' advice for every family (what `/admin/cache/stats` shows);
3. the advice applied (`gomeet cache ttl apply`, through Redis: the server follows it);
4. a warm-up, then window B with the applied TTLs: the hit ratio again.

    PYTHONPATH=. .venv/bin/python scripts/ttl_advice.py [--seconds 60] [--scale 60] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher, Type
from bench.api import HASH_MEMORY_KIB, HASH_TIME_COST
from bench.dataset import BENCH_PASSWORD, Dataset, seed
from bench.loadgen import LoadGenConfig, LoadGenerator
from bench.profiles import QUICK
from bench.servers import ApiServer, BenchRedis, private_postgres

from gomeet.cache import Family, open_cache
from gomeet.cache.options import NOMINAL_TTLS
from gomeet.config import Settings
from gomeet.migrate import upgrade

ADVICE_FIELDS = ("currentSeconds", "recommendedSeconds", "reason", "expectedHitRatioChange", "rule")


def scaled_ttls(scale: float) -> dict[str, int]:
    return {family: max(2, round(ttl / scale)) for family, ttl in NOMINAL_TTLS.items()}


async def stats_of(settings: Settings) -> dict[str, Any]:
    async with open_cache(settings) as cache:
        return await cache.get_cache_stats()


def ratios(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    def delta(figures_after: dict[str, Any], figures_before: dict[str, Any]) -> dict[str, Any]:
        hits = figures_after.get("hits", 0) - figures_before.get("hits", 0)
        misses = figures_after.get("misses", 0) - figures_before.get("misses", 0)
        reads = hits + misses
        return {"reads": reads, "hitRatio": round(hits / reads, 4) if reads else None}

    out = {"all": delta(after, before)}
    for family, figures in sorted(after["families"].items()):
        out[family] = delta(figures, before["families"].get(family, {}))
    return out


async def apply_advice(settings: Settings) -> list[dict[str, Any]]:
    applied = []
    async with open_cache(settings) as cache:
        advice = (await cache.get_cache_stats())["ttlAdvice"]
        for family, entry in sorted(advice.items()):
            if entry["rule"] in ("raise", "lower"):
                seconds = entry["recommendedSeconds"]
                applied.append(await cache.apply_ttl(Family(family), seconds, "ttl-advice"))
    return applied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="each measured window")
    parser.add_argument("--warmup", type=float, default=15.0, help="before each window")
    parser.add_argument("--scale", type=float, default=60.0, help="TTLs divided by this")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    ttls = scaled_ttls(args.scale)
    spec = QUICK.dataset
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(private_postgres())
        upgrade(database_url)
        hasher = PasswordHasher(time_cost=HASH_TIME_COST, memory_cost=HASH_MEMORY_KIB, type=Type.ID)
        dataset = Dataset(spec)
        asyncio.run(seed(database_url, dataset, hasher.hash(BENCH_PASSWORD)))
        redis = stack.enter_context(BenchRedis())
        jwt_secret = secrets.token_urlsafe(48)
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gomeet-ttl-")))
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "JWT_SECRET": jwt_secret,
            "JWT_ACCESS_TOKEN_EXPIRY": "24h",
            "RATE_LIMIT_ENABLED": "false",
            "ENVIRONMENT": "development",
            "VAR_DIR": str(log_dir / "var"),
            "LOG_FORMAT": "json",
            "GOMEET_CACHE": "on",
            **{f"CACHE_TTL_{family.upper()}": str(ttl) for family, ttl in ttls.items()},
        }
        server = ApiServer("redis", env, log_dir)
        stack.callback(server.stop)
        server.launch()
        server.wait_ready()
        loadgen = LoadGenerator(LoadGenConfig(spec, jwt_secret, QUICK.api_concurrency))
        stack.callback(loadgen.close)
        overrides: dict[str, Any] = {f"cache_ttl_{family}": ttl for family, ttl in ttls.items()}
        settings = Settings(_env_file=None, redis_url=redis.url, **overrides)

        def window(label: str) -> dict[str, Any]:
            print(f"{label}: warm-up {args.warmup:g} s, then {args.seconds:g} s", file=sys.stderr)
            loadgen.run(server.base_url, args.warmup)
            before = asyncio.run(stats_of(settings))
            result = loadgen.run(server.base_url, args.seconds)
            time.sleep(1.5)  # the server's last flush
            after = asyncio.run(stats_of(settings))
            return {"requests": result["ops"], "failed": result["failed"], **ratios(before, after)}

        first = window("window A (configured TTLs)")
        advice = asyncio.run(stats_of(settings))["ttlAdvice"]
        applied = asyncio.run(apply_advice(settings))
        time.sleep(2.0)  # the server follows the applied TTLs in its upkeep loop
        second = window("window B (advice applied)")
        report = {
            "workload": "api-read mix (Zipf 1.1 reads, 5 % writes), quick data set",
            "dataset": {"users": spec.users, "meetings": spec.meetings},
            "seconds": args.seconds,
            "ttls": ttls,
            "before": first,
            "advice": {f: {k: a[k] for k in ADVICE_FIELDS} for f, a in advice.items()},
            "applied": [{k: d[k] for k in ("family", "before", "after")} for d in applied],
            "after": second,
        }
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
